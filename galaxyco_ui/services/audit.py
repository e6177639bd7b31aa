"""The audit log: append inside the acting transaction, read by admins and owners.

Reading (``list_audit_events``, ``export_audit_csv``) filters by actor (a person, or one
of the workspace's API keys), by action (exact, or every action of one area:
``"agent.*"``) and by period, newest first. The client address an event was recorded
from is shown to owners only: other readers get views and files without it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, require
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import ApiKey, AuditEvent, User, Workspace, WorkspaceMember
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.validation import lookup_id

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 50_000
_EXPORT_BATCH = 1_000
# An action as ``record`` writes them ("agent.created", "user.2fa_enabled"), or a whole
# area ("agent.*"); the column holds 64 characters.
_ACTION = re.compile(r"[a-z0-9_]{1,32}(?:\.[a-z0-9_]{1,32})*(?:\.\*)?")
_ACTION_MAX_CHARS = 66
ACTION_MESSAGE = "Choose an action from the list."
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditEventView(BaseModel):
    id: str
    action: str
    summary: str
    actor_name: str
    # The API key the actor acted through ("" when they acted in the app).
    api_key_name: str = ""
    target_type: str
    target_id: str
    # The client address the event came from: owners only ("" for everyone else).
    ip: str = ""
    created_at: datetime


class AuditPage(BaseModel):
    events: list[AuditEventView]
    next_cursor: str  # "" when there is no older page


class AuditActor(BaseModel):
    """Someone the log can be filtered by: a person or one of the workspace's API keys."""

    kind: str  # "user" | "api_key"
    id: str
    label: str


class AuditActionGroup(BaseModel):
    """The actions of one area present in the log (``prefix`` "agent": "agent.created", …)."""

    prefix: str
    actions: list[str]


class AuditFilterOptions(BaseModel):
    actors: list[AuditActor]
    action_groups: list[AuditActionGroup]


class AuditExport(BaseModel):
    filename: str
    content: str  # the CSV text
    rows: int
    capped: bool  # more events matched than the file holds (the newest ``rows`` are in it)


def record(
    session: Session,
    ctx: TenantContext,
    action: str,
    *,
    summary: str,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to ``session`` (committed with the change it describes).

    The event keeps the caller's client address and, when the caller is an API key, the
    key's id (the actor is then the key's creator).
    """
    meta: dict[str, Any] = {}
    if ctx.ip:
        meta["ip"] = ctx.ip
    if ctx.api_key_id:
        meta["api_key_id"] = ctx.api_key_id
    session.add(
        AuditEvent(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            action=action,
            summary=summary[:300],
            target_type=target_type,
            target_id=target_id,
            data=data or {},
            meta=meta,
        )
    )


def record_for_user(
    session: Session,
    user_id: str,
    action: str,
    *,
    summary: str,
    ip: str = "",
    data: dict[str, Any] | None = None,
    by_user: bool = True,
) -> None:
    """Add an account-level event (password reset, OAuth link...) to every workspace the
    user belongs to: the admins of each see what happened to their member's account.

    A user with no workspace leaves no event (the log is per workspace). With
    ``by_user=False`` (a failed sign-in: someone tried) the event has no actor.
    """
    workspace_ids = session.exec(
        select(WorkspaceMember.workspace_id)
        .join(Workspace, col(Workspace.id) == col(WorkspaceMember.workspace_id))
        .where(WorkspaceMember.user_id == user_id, col(Workspace.deleted_at).is_(None))
    ).all()
    for workspace_id in workspace_ids:
        session.add(
            AuditEvent(
                workspace_id=workspace_id,
                created_by=user_id if by_user else None,
                action=action,
                summary=summary[:300],
                target_type="user",
                target_id=user_id,
                data=data or {},
                meta={"ip": ip} if ip else {},
            )
        )


def list_audit_events(
    *,
    ctx: TenantContext,
    limit: int = PAGE_SIZE,
    cursor: str = "",
    actor_id: str = "",
    api_key_id: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """The workspace's audit events, newest first, ``limit`` (1 to 200) at most.

    ``cursor`` is an earlier page's ``next_cursor`` (asked with the same filters): the
    page continues after that page's last event, by ``(created_at, id)`` so events of
    the same instant are each listed once. Filters: ``actor_id`` (a user: what they did,
    in the app or through their API keys), ``api_key_id`` (what was done through that
    key), ``action`` (``"agent.created"``, or ``"agent.*"`` for every ``agent.`` action),
    ``since`` (inclusive) and ``until`` (exclusive); naive datetimes are UTC. An id no
    row of this workspace has matches nothing. ``ip`` is filled for owners only.

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: ``cursor`` is not a cursor this function returned; ``action``
            is not an action name; ``since``/``until`` are not datetimes or ``until``
            is before ``since``.
    """
    require(ctx, Permission.VIEW_AUDIT_LOG)
    limit = max(1, min(limit, 200)) if isinstance(limit, int) else PAGE_SIZE
    where = _filters(ctx, actor_id=actor_id, api_key_id=api_key_id, action=action, since=since, until=until)
    with session_scope() as session:
        rows = _rows(session, ctx, where, cursor=cursor, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        last = page[-1][0] if page else None
        return AuditPage(
            events=_views(session, ctx, page),
            next_cursor=page_cursor(last.created_at, last.id) if more and last else "",
        )


def list_audit_filter_options(*, ctx: TenantContext) -> AuditFilterOptions:
    """What the log can be filtered by: the workspace's members and everyone who has an
    event in its log (a member who left included), its API keys (revoked ones too), and
    the actions present in its log grouped by area, sorted.

    Raises:
        PermissionDeniedError: members and viewers.
    """
    require(ctx, Permission.VIEW_AUDIT_LOG)
    with session_scope() as session:
        member_ids = set(
            session.exec(
                select(WorkspaceMember.user_id).where(WorkspaceMember.workspace_id == ctx.workspace_id)
            ).all()
        )
        actor_ids = session.exec(
            select(AuditEvent.created_by)
            .where(AuditEvent.workspace_id == ctx.workspace_id, col(AuditEvent.created_by).is_not(None))
            .distinct()
        ).all()
        user_ids = member_ids | {a for a in actor_ids if a}
        users = session.exec(select(User).where(col(User.id).in_(user_ids))).all() if user_ids else []
        keys = session.exec(
            select(ApiKey).where(ApiKey.workspace_id == ctx.workspace_id).order_by(col(ApiKey.name))
        ).all()
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.workspace_id == ctx.workspace_id).distinct()
        ).all()
    people = sorted(users, key=lambda u: (u.name.casefold(), u.email))
    groups: dict[str, list[str]] = {}
    for name in sorted(set(actions)):
        groups.setdefault(name.partition(".")[0], []).append(name)
    return AuditFilterOptions(
        actors=[AuditActor(kind="user", id=u.id, label=f"{u.name} ({u.email})") for u in people]
        + [AuditActor(kind="api_key", id=k.id, label=f"API key “{k.name}” ({k.prefix}…)") for k in keys],
        action_groups=[AuditActionGroup(prefix=p, actions=a) for p, a in groups.items()],
    )


def export_audit_csv(
    *,
    ctx: TenantContext,
    actor_id: str = "",
    api_key_id: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    max_rows: int = EXPORT_MAX_ROWS,
) -> AuditExport:
    """Every event the filters of ``list_audit_events`` select, newest first, as CSV.

    At most ``max_rows`` (the newest; ``capped`` says when more matched). Cells that a
    spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) get a
    leading apostrophe. The "IP address" column is there for owners only. The export is
    itself recorded in the log (``audit.exported``, with its filters).

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: as ``list_audit_events``.
    """
    require(ctx, Permission.VIEW_AUDIT_LOG)
    max_rows = max(1, min(max_rows, EXPORT_MAX_ROWS))
    where = _filters(ctx, actor_id=actor_id, api_key_id=api_key_id, action=action, since=since, until=until)
    owner = ctx.role is Role.OWNER
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["When (UTC)", "Actor", "API key", "Action", "What happened", "Target type", "Target id"]
    writer.writerow(header + (["IP address"] if owner else []))
    written, cursor, exhausted = 0, "", False
    with session_scope() as session:
        while written < max_rows and not exhausted:
            wanted = min(_EXPORT_BATCH, max_rows - written)
            batch = _rows(session, ctx, where, cursor=cursor, limit=wanted)
            for view in _views(session, ctx, batch):
                cells = [
                    view.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    view.actor_name,
                    view.api_key_name,
                    view.action,
                    view.summary,
                    view.target_type,
                    view.target_id,
                ]
                writer.writerow([csv_cell(c) for c in cells + ([view.ip] if owner else [])])
            written += len(batch)
            exhausted = len(batch) < wanted
            if batch:
                cursor = _cursor_of(batch)
        capped = not exhausted and bool(cursor) and bool(_rows(session, ctx, where, cursor=cursor, limit=1))
        workspace = session.get(Workspace, ctx.workspace_id)
        workspace_name = workspace.name if workspace else ""
        # The filters as checked (an id no row could have was matched as nothing).
        filters = {"actor_id": lookup_id(actor_id) or "", "api_key_id": lookup_id(api_key_id) or ""}
        filters["action"] = action
        filters |= {"since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}
        record(
            session,
            ctx,
            "audit.exported",
            summary=f"Exported {written} audit events as CSV",
            data={"rows": written, "capped": capped, "filters": filters},
        )
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return AuditExport(
        filename=f"galaxyco-audit-{file_slug(workspace_name, ctx.workspace_id)}-{today}.csv",
        content=out.getvalue(),
        rows=written,
        capped=capped,
    )


# ---------------------------------------------------------------- helpers


def _filters(
    ctx: TenantContext,
    *,
    actor_id: object,
    api_key_id: object,
    action: object,
    since: object,
    until: object,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filtered read of ``ctx``'s log (every argument is hostile)."""
    where: list[ColumnElement[bool]] = [col(AuditEvent.workspace_id) == ctx.workspace_id]
    if actor_id:
        # An id no user could have (a NUL would crash PostgreSQL) matches no event.
        where.append(col(AuditEvent.created_by) == (lookup_id(actor_id) or ""))
    if api_key_id:
        key = lookup_id(api_key_id) or ""
        where.append(col(AuditEvent.meta)["api_key_id"].as_string() == key)
    if action:
        if not isinstance(action, str) or len(action) > _ACTION_MAX_CHARS or not _ACTION.fullmatch(action):
            raise ValidationError({"action": ACTION_MESSAGE})
        if action.endswith(".*"):
            where.append(col(AuditEvent.action).startswith(action[:-1], autoescape=True))
        else:
            where.append(col(AuditEvent.action) == action)
    start, end = _moment(since, "since"), _moment(until, "until")
    if start is not None and end is not None and end < start:
        raise ValidationError({"until": "Choose an end after the start."})
    if start is not None:
        where.append(col(AuditEvent.created_at) >= start)
    if end is not None:
        where.append(col(AuditEvent.created_at) < end)
    return where


def _moment(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError({field: "Enter a date, like 2026-01-31."})
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _rows(
    session: Session, ctx: TenantContext, where: list[ColumnElement[bool]], *, cursor: str, limit: int
) -> list[tuple[AuditEvent, str | None]]:
    query = (
        select(AuditEvent, User.name)
        .join(User, col(User.id) == col(AuditEvent.created_by), isouter=True)
        .where(*where)
    )
    if cursor:
        query = query.where(older_than(cursor, col(AuditEvent.created_at), col(AuditEvent.id)))
    ordered = query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
    return list(session.exec(ordered.limit(limit)).all())


def _cursor_of(rows: Sequence[tuple[AuditEvent, str | None]]) -> str:
    return page_cursor(rows[-1][0].created_at, rows[-1][0].id)


def _views(
    session: Session, ctx: TenantContext, rows: Sequence[tuple[AuditEvent, str | None]]
) -> list[AuditEventView]:
    key_ids = {k for e, _ in rows if isinstance(k := (e.meta or {}).get("api_key_id"), str)}
    key_names = (
        dict(
            session.exec(
                select(ApiKey.id, ApiKey.name).where(
                    ApiKey.workspace_id == ctx.workspace_id, col(ApiKey.id).in_(key_ids)
                )
            ).all()
        )
        if key_ids
        else {}
    )
    owner = ctx.role is Role.OWNER
    return [
        AuditEventView(
            id=e.id,
            action=e.action,
            summary=e.summary,
            actor_name=name or "System",
            api_key_name=key_names.get(str((e.meta or {}).get("api_key_id", "")), ""),
            target_type=e.target_type,
            target_id=e.target_id,
            ip=str((e.meta or {}).get("ip", "")) if owner else "",
            created_at=e.created_at,
        )
        for e, name in rows
    ]


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet will not run as a formula (also the usage export's)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def file_slug(name: str, fallback: str) -> str:
    """``name`` as a file-name part: lower-case ASCII letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:40].strip("-")
    return slug or fallback[:8]
