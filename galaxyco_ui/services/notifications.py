"""The bell and the notification preferences of the signed-in member.

Every read and write here is the CURRENT user's own, in the CURRENT workspace of the
context: a notification of anyone else (or of another workspace) is "not found".
Preferences belong to the user (one row per kind, for all their workspaces); a kind
without a row uses ``notifications.kinds.DEFAULTS``. Recording notifications is the
engines' job (``galaxyco_ui.notifications.record``); see docs/notifications.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, update
from sqlmodel import col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Notification, NotificationPref, utcnow
from galaxyco_ui.models.notifications import NOTIFICATION_KINDS
from galaxyco_ui.notifications import live
from galaxyco_ui.notifications.kinds import DEFAULTS, KIND_LABELS
from galaxyco_ui.notifications.live import Subscription as Subscription  # what subscribe yields
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.validation import lookup_id

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
CHANNELS = ("in_app", "email")


class NotificationView(BaseModel):
    id: str
    kind: str
    kind_label: str
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool


class NotificationPage(BaseModel):
    items: list[NotificationView]
    next_cursor: str  # "" on the last page
    unread: int


class PreferenceView(BaseModel):
    kind: str
    label: str
    in_app: bool
    email: bool


def _view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id,
        kind=row.kind,
        kind_label=KIND_LABELS.get(row.kind, row.kind),
        title=row.title,
        body=row.body,
        link=row.link,
        created_at=row.created_at,
        read=row.read_at is not None,
    )


def _mine(ctx: TenantContext) -> tuple[object, object]:
    return Notification.user_id == ctx.user_id, Notification.workspace_id == ctx.workspace_id


def unread_count(*, ctx: TenantContext) -> int:
    """How many of the member's notifications in this workspace are unread."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Notification)
                .where(*_mine(ctx), col(Notification.read_at).is_(None))  # type: ignore[arg-type]  # column comparisons
            ).one()
        )


def list_notifications(*, ctx: TenantContext, cursor: str = "", limit: int = PAGE_SIZE) -> NotificationPage:
    """The member's notifications in this workspace, newest first, one page at a time.

    Raises:
        ValidationError: ``cursor`` is not one this list handed out.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    query = select(Notification).where(*_mine(ctx))  # type: ignore[arg-type]  # column comparisons
    if cursor:
        query = query.where(older_than(cursor, col(Notification.created_at), col(Notification.id)))
    query = query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc()).limit(limit + 1)
    with session_scope() as session:
        rows = list(session.exec(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = page_cursor(rows[-1].created_at, rows[-1].id) if more and rows else ""
    return NotificationPage(
        items=[_view(r) for r in rows], next_cursor=next_cursor, unread=unread_count(ctx=ctx)
    )


def mark_read(*, ctx: TenantContext, notification_id: str) -> NotificationView:
    """Mark one of the member's notifications read (already read: unchanged).

    Raises:
        NotFoundError: no such notification of this member in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    key = lookup_id(notification_id)
    with session_scope() as session:
        row = session.get(Notification, key) if key else None
        if row is None or row.user_id != ctx.user_id or row.workspace_id != ctx.workspace_id:
            raise NotFoundError("That notification")
        if row.read_at is None:
            row.read_at = utcnow()
        return _view(row)


def mark_all_read(*, ctx: TenantContext) -> int:
    """Mark every unread notification of the member in this workspace read; returns how many."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return int(
            session.exec(
                update(Notification)
                .where(*_mine(ctx), col(Notification.read_at).is_(None))  # type: ignore[arg-type]  # column comparisons
                .values(read_at=utcnow())
            ).rowcount
        )


@contextlib.asynccontextmanager
async def subscribe(*, ctx: TenantContext) -> AsyncIterator[Subscription]:
    """While inside: ``await sub.wait(seconds)`` is True when the member got something new
    in this workspace (the bell then reads ``unread_count`` again). No query while idle."""
    require(ctx, Permission.VIEW_WORKSPACE)
    async with live.subscribe(ctx.user_id, ctx.workspace_id) as sub:
        yield sub


# ---------------------------------------------------------------- preferences


def get_preferences(*, user_id: str) -> list[PreferenceView]:
    """The user's choice for every kind, in ``NOTIFICATION_KINDS`` order (defaults filled in)."""
    with session_scope() as session:
        rows = {
            p.kind: p
            for p in session.exec(select(NotificationPref).where(NotificationPref.user_id == user_id)).all()
        }
    views = []
    for kind in NOTIFICATION_KINDS:
        row = rows.get(kind)
        in_app, email = (row.in_app, row.email) if row else (DEFAULTS[kind].in_app, DEFAULTS[kind].email)
        views.append(PreferenceView(kind=kind, label=KIND_LABELS[kind], in_app=in_app, email=email))
    return views


def set_preference(*, user_id: str, kind: str, channel: str, enabled: bool) -> PreferenceView:
    """Turn one channel (``in_app`` or ``email``) of one kind on or off for the user.

    Raises:
        ValidationError: an unknown kind or channel, or ``enabled`` not a boolean.
    """
    if kind not in NOTIFICATION_KINDS:
        raise ValidationError({"kind": "Choose a kind of notification from the list."})
    if channel not in CHANNELS:
        raise ValidationError({"channel": "Choose in app or email."})
    if not isinstance(enabled, bool):
        raise ValidationError({"enabled": "Turn it on or off."})
    with session_scope() as session:
        row = session.get(NotificationPref, (user_id, kind))
        if row is None:
            row = NotificationPref(
                user_id=user_id, kind=kind, in_app=DEFAULTS[kind].in_app, email=DEFAULTS[kind].email
            )
            session.add(row)
        setattr(row, channel, enabled)
        return PreferenceView(kind=kind, label=KIND_LABELS[kind], in_app=row.in_app, email=row.email)
