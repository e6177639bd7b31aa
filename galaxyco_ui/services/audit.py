"""The audit log: append inside the acting transaction, read by admins and owners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, User, Workspace, WorkspaceMember
from galaxyco_ui.services.paging import older_than, page_cursor

PAGE_SIZE = 50


class AuditEventView(BaseModel):
    id: str
    action: str
    summary: str
    actor_name: str
    target_type: str
    target_id: str
    created_at: datetime


class AuditPage(BaseModel):
    events: list[AuditEventView]
    next_cursor: str  # "" when there is no older page


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
    """Add an audit event to ``session`` (committed with the change it describes)."""
    session.add(
        AuditEvent(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            action=action,
            summary=summary[:300],
            target_type=target_type,
            target_id=target_id,
            data=data or {},
            meta={"ip": ctx.ip} if ctx.ip else {},
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


def list_audit_events(*, ctx: TenantContext, limit: int = PAGE_SIZE, cursor: str = "") -> AuditPage:
    """The workspace's audit events, newest first, ``limit`` (1 to 200) at most.

    ``cursor`` is an earlier page's ``next_cursor``: the page continues after that page's
    last event, by ``(created_at, id)`` so events of the same instant are each listed once.

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: ``cursor`` is not a cursor this function returned.
    """
    require(ctx, Permission.VIEW_AUDIT_LOG)
    limit = max(1, min(limit, 200))
    with session_scope() as session:
        query = (
            select(AuditEvent, User.name)
            .join(User, col(User.id) == col(AuditEvent.created_by), isouter=True)
            .where(AuditEvent.workspace_id == ctx.workspace_id)
        )
        if cursor:
            query = query.where(older_than(cursor, col(AuditEvent.created_at), col(AuditEvent.id)))
        rows = session.exec(
            query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc()).limit(limit + 1)
        ).all()
        page, more = rows[:limit], len(rows) > limit
        last = page[-1][0] if page else None
        return AuditPage(
            events=[
                AuditEventView(
                    id=e.id,
                    action=e.action,
                    summary=e.summary,
                    actor_name=name or "System",
                    target_type=e.target_type,
                    target_id=e.target_id,
                    created_at=e.created_at,
                )
                for e, name in page
            ],
            next_cursor=page_cursor(last.created_at, last.id) if more and last else "",
        )
