"""Workspace API keys: create, list, revoke, authenticate, and the per-key rate limit.

A key is ``gx_`` followed by 43 URL-safe characters. It is shown once, when created; the
database keeps its SHA-256 (looked up by equality: the hash of a 256-bit secret leaks
nothing an attacker can time) and its first 11 characters, so lists can name it.

A key acts in its own workspace only, as its creator, with the *lower* of the key's role
and the creator's current role: demoting the creator lowers every key they made, and a
creator who leaves (or a deleted workspace) takes their keys' access with them. A key's
role is admin, member or viewer, never above its creator's role when it is made.

Requests are limited per key with a sliding window of 60 s: the workspace's
``api_requests_per_minute`` (admins set it), never above the operator's
``API_MAX_REQUESTS_PER_MINUTE``. Creating and revoking keys and changing the limit are
audited (``api_key.created``, ``api_key.revoked``, ``workspace.api_rate_limit_changed``),
never with the secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import and_
from sqlmodel import Session, col, select, update

from galaxyco_ui.auth.permissions import ROLE_LABELS, Permission, Role, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_sliding_window
from galaxyco_ui.models import ApiKey, User, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import clean_name, lookup_id, name_key

API_KEY_ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)
KEY_START = "gx_"
PREFIX_LENGTH = 11  # "gx_" and 8 characters of the secret: enough to recognise a key
NAME_MAX_LENGTH = 80
LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per key
RATE_WINDOW_SECONDS = 60
LIMIT_CACHE_SECONDS = 15.0  # how long a process trusts the workspace limit it last read

# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-]; anything else is not a key of ours.
_SECRET_PATTERN = re.compile(r"gx_[A-Za-z0-9_-]{43}")
# Higher ranks may do more; a key acts with the lower of its role and its creator's.
_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

INVALID_MESSAGE = "Invalid API key."
REVOKED_MESSAGE = "This API key was revoked."
EXPIRED_MESSAGE = "This API key expired."
ORPHANED_MESSAGE = "This API key's creator is no longer a member of its workspace."

KeyStatus = Literal["active", "expired", "revoked"]


class ApiKeyView(BaseModel):
    id: str
    name: str
    role: str
    prefix: str  # e.g. "gx_AbCd1234": the first characters of the secret
    created_by_name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: KeyStatus


# ---------------------------------------------------------------- managing keys


def create_api_key(
    *, ctx: TenantContext, name: str, role: str, expires_at: datetime | None = None
) -> tuple[ApiKeyView, str]:
    """Create a key in the caller's workspace (admins and owners).

    Args:
        name: 1 to 80 characters (one line), unique among the workspace's keys that are
            not revoked (compared case- and width-insensitively).
        role: ``admin``, ``member`` or ``viewer``, not above the caller's role.
        expires_at: when the key stops working (must be in the future); None: never.
            A naive datetime is read as UTC.

    Returns:
        The key's view and its secret (``gx_…``): the only time the secret is available.

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: ``name``, ``role`` or ``expires_at``.
        ConflictError: ``name`` is taken by another key that is not revoked.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    name = clean_name(name, field="name", label="Name", max_length=NAME_MAX_LENGTH)
    key_role = _key_role(ctx, role)
    expires = _future(expires_at)
    secret = KEY_START + secrets.token_urlsafe(32)
    with session_scope() as session:
        _lock_workspace(session, ctx.workspace_id)
        taken = session.exec(
            select(ApiKey.name).where(
                ApiKey.workspace_id == ctx.workspace_id, col(ApiKey.revoked_at).is_(None)
            )
        ).all()
        if name_key(name) in {name_key(other) for other in taken}:
            raise ConflictError({"name": "Another API key already has this name."})
        row = ApiKey(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            name=name,
            role=key_role.value,
            prefix=secret[:PREFIX_LENGTH],
            secret_hash=_hash(secret),
            expires_at=expires,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            ctx,
            "api_key.created",
            summary=f"Created the API key “{name}” ({ROLE_LABELS[key_role]})",
            target_type="api_key",
            target_id=row.id,
            data={
                "name": name,
                "role": key_role.value,
                "prefix": row.prefix,
                "expires_at": expires.isoformat() if expires else None,
            },
        )
        creator = session.get(User, ctx.user_id)
        view = _view(row, creator.name if creator else "")
    return view, secret


def list_api_keys(*, ctx: TenantContext) -> list[ApiKeyView]:
    """Every key of the workspace, newest first, revoked and expired ones included.

    Raises:
        PermissionDeniedError: members and viewers.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        rows = session.exec(
            select(ApiKey, User.name)
            .join(User, col(User.id) == col(ApiKey.created_by), isouter=True)
            .where(ApiKey.workspace_id == ctx.workspace_id)
            .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
        ).all()
        return [_view(row, creator or "") for row, creator in rows]


def revoke_api_key(*, ctx: TenantContext, key_id: str) -> None:
    """Revoke a key: the next request with it is refused. Revoking twice changes nothing.

    Raises:
        PermissionDeniedError: members and viewers.
        NotFoundError: no such key in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    key = lookup_id(key_id)
    with session_scope() as session:
        row = session.get(ApiKey, key) if key else None
        if row is None or row.workspace_id != ctx.workspace_id:
            raise NotFoundError("That API key")
        if row.revoked_at is not None:
            return
        row.revoked_at, row.revoked_by, row.updated_at = utcnow(), ctx.user_id, utcnow()
        audit.record(
            session,
            ctx,
            "api_key.revoked",
            summary=f"Revoked the API key “{row.name}”",
            target_type="api_key",
            target_id=row.id,
            data={"name": row.name, "prefix": row.prefix},
        )


# ---------------------------------------------------------------- authenticating requests


def authenticate_api_key(secret: str, *, ip: str = "") -> TenantContext:
    """The context a request carrying ``secret`` (``Authorization: Bearer gx_…``) acts in.

    One indexed query (key by hash, its workspace, its creator's membership); a second
    write at most once a minute per key records ``last_used_at``.

    Returns:
        A context in the key's workspace, as its creator, with the lower of the key's role
        and the creator's current role, ``api_key_id`` set and no session.

    Raises:
        AuthenticationError: malformed or unknown key, revoked, expired, creator no longer
            a member, or the workspace deleted.
    """
    if not isinstance(secret, str) or not _SECRET_PATTERN.fullmatch(secret):
        raise AuthenticationError(INVALID_MESSAGE)
    with session_scope() as session:
        found = session.exec(
            select(ApiKey, WorkspaceMember.role, Workspace.deleted_at, Workspace.api_requests_per_minute)
            .join(Workspace, col(Workspace.id) == col(ApiKey.workspace_id))
            .join(
                WorkspaceMember,
                and_(
                    col(WorkspaceMember.workspace_id) == col(ApiKey.workspace_id),
                    col(WorkspaceMember.user_id) == col(ApiKey.created_by),
                ),
                isouter=True,
            )
            .where(ApiKey.secret_hash == _hash(secret))
        ).first()
        if found is None:
            raise AuthenticationError(INVALID_MESSAGE)
        row, member_role, workspace_deleted_at, per_minute = found
        now = utcnow()
        if row.revoked_at is not None:
            raise AuthenticationError(REVOKED_MESSAGE)
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthenticationError(EXPIRED_MESSAGE)
        if workspace_deleted_at is not None:
            raise AuthenticationError(INVALID_MESSAGE)
        if member_role is None or row.created_by is None:
            raise AuthenticationError(ORPHANED_MESSAGE)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
            # Compare-and-set: of many requests at once, one writes; the others match nothing.
            stale = now - LAST_USED_EVERY
            session.exec(
                update(ApiKey)
                .where(
                    col(ApiKey.id) == row.id,
                    (col(ApiKey.last_used_at).is_(None)) | (col(ApiKey.last_used_at) <= stale),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
        _remember_limit(row.workspace_id, per_minute)
        key_role, creator_role = Role(row.role), Role(member_role)
        return TenantContext(
            user_id=row.created_by,
            workspace_id=row.workspace_id,
            role=min(key_role, creator_role, key=_RANK.__getitem__),
            session_id=None,
            ip=ip,
            api_key_id=row.id,
        )


# ---------------------------------------------------------------- rate limit


def check_api_rate(ctx: TenantContext) -> None:
    """Count one request of ``ctx``'s API key against its per-minute window.

    Raises:
        RateLimitedError: the key made its limit of requests in the last 60 s;
            ``retry_after`` says in how many seconds the next one is allowed.
        ValueError: ``ctx`` does not come from an API key (a programming error).
    """
    if ctx.api_key_id is None:
        raise ValueError("check_api_rate needs an API key's context")
    limit = _workspace_limit(ctx.workspace_id)
    wait = get_sliding_window().hit(
        f"ws:{ctx.workspace_id}:api:key:{ctx.api_key_id}", limit=limit, window_seconds=RATE_WINDOW_SECONDS
    )
    if wait:
        retry_after = int(wait) + 1
        raise RateLimitedError(
            f"This API key made {limit} requests in the last minute (the limit). "
            f"Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


def get_api_rate_limit(*, ctx: TenantContext) -> tuple[int, int]:
    """The workspace's requests per minute per key, and the operator's maximum.

    Raises:
        PermissionDeniedError: members and viewers.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        per_minute = workspace.api_requests_per_minute if workspace else None
    operator_max = get_settings().api_max_requests_per_minute
    return _clamp(per_minute, operator_max), operator_max


def set_api_rate_limit(*, ctx: TenantContext, per_minute: int) -> None:
    """Set the workspace's requests per minute per key (1 to the operator's maximum).

    Other processes pick the new limit up within ``LIMIT_CACHE_SECONDS``.

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: ``per_minute`` is not a whole number in range.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    operator_max = get_settings().api_max_requests_per_minute
    if isinstance(per_minute, bool) or not isinstance(per_minute, int):
        raise ValidationError({"per_minute": "Enter a whole number."})
    if not 1 <= per_minute <= operator_max:
        raise ValidationError({"per_minute": f"Enter a number between 1 and {operator_max}."})
    with session_scope() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None or workspace.deleted_at is not None:
            raise NotFoundError("That workspace")
        previous = _clamp(workspace.api_requests_per_minute, operator_max)
        workspace.api_requests_per_minute, workspace.updated_at = per_minute, utcnow()
        audit.record(
            session,
            ctx,
            "workspace.api_rate_limit_changed",
            summary=f"Set the API rate limit to {per_minute} requests per minute per key",
            target_type="workspace",
            target_id=workspace.id,
            data={"per_minute": per_minute, "previous": previous},
        )
    _remember_limit(ctx.workspace_id, per_minute)


# ---------------------------------------------------------------- helpers

# workspace id → (monotonic time read, its api_requests_per_minute): saves a query per request.
_limits: dict[str, tuple[float, int | None]] = {}
_limits_lock = threading.Lock()


def _remember_limit(workspace_id: str, per_minute: int | None) -> None:
    with _limits_lock:
        if len(_limits) > 10_000:  # bounded: old entries are worthless after the TTL anyway
            _limits.clear()
        _limits[workspace_id] = (time.monotonic(), per_minute)


def _workspace_limit(workspace_id: str) -> int:
    operator_max = get_settings().api_max_requests_per_minute
    with _limits_lock:
        cached = _limits.get(workspace_id)
    if cached is not None and time.monotonic() - cached[0] < LIMIT_CACHE_SECONDS:
        return _clamp(cached[1], operator_max)
    with session_scope() as session:
        per_minute = session.exec(
            select(Workspace.api_requests_per_minute).where(Workspace.id == workspace_id)
        ).first()
    _remember_limit(workspace_id, per_minute)
    return _clamp(per_minute, operator_max)


def reset_limit_cache() -> None:
    """Forget cached workspace limits (tests change them behind this process's back)."""
    with _limits_lock:
        _limits.clear()


def _clamp(per_minute: int | None, operator_max: int) -> int:
    return operator_max if per_minute is None else max(1, min(per_minute, operator_max))


def key_roles_for(role: Role) -> list[Role]:
    """The roles a key made by someone with ``role`` may have, highest first."""
    return [r for r in API_KEY_ROLES if _RANK[r] <= _RANK[role]]


def _key_role(ctx: TenantContext, role: object) -> Role:
    allowed = key_roles_for(ctx.role)
    if not isinstance(role, str) or role not in {r.value for r in API_KEY_ROLES}:
        labels = ", ".join(ROLE_LABELS[r].lower() for r in allowed)
        raise ValidationError({"role": f"Choose one of: {labels}."})
    chosen = Role(role)
    if chosen not in allowed:
        raise ValidationError({"role": "A key cannot have a role above yours."})
    return chosen


def _future(expires_at: object) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime):
        raise ValidationError({"expires_at": "Enter a date."})
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at <= utcnow():
        raise ValidationError({"expires_at": "Choose an expiry date in the future."})
    return expires_at.astimezone(UTC)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _lock_workspace(session: Session, workspace_id: str) -> None:
    """Serialize key creation per workspace (see ``team._lock_workspace``): two creates
    with the same name at once cannot both pass the uniqueness check."""
    session.exec(
        update(Workspace)
        .where(col(Workspace.id) == workspace_id)
        .values(updated_at=Workspace.updated_at)
        .execution_options(synchronize_session=False)
    )


def _status(row: ApiKey, now: datetime) -> KeyStatus:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def _view(row: ApiKey, creator_name: str) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_by_name=creator_name or "Former member",
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        status=_status(row, utcnow()),
    )
