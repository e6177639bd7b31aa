"""The audit log: append inside the acting transaction, read by admins and owners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, User, Workspace, WorkspaceMember


class AuditEventView(BaseModel):
    id: str
    action: str
    summary: str
    actor_name: str
    target_type: str
    target_id: str
    created_at: datetime


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


def list_audit_events(
    *, ctx: TenantContext, limit: int = 50, before: datetime | None = None
) -> list[AuditEventView]:
    """The workspace's newest audit events first, ``limit`` at most, older than ``before``."""
    require(ctx, Permission.VIEW_AUDIT_LOG)
    with session_scope() as session:
        query = (
            select(AuditEvent, User.name)
            .join(User, col(User.id) == col(AuditEvent.created_by), isouter=True)
            .where(AuditEvent.workspace_id == ctx.workspace_id)
            .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
            .limit(min(limit, 200))
        )
        if before is not None:
            query = query.where(col(AuditEvent.created_at) < before)
        return [
            AuditEventView(
                id=e.id,
                action=e.action,
                summary=e.summary,
                actor_name=name or "System",
                target_type=e.target_type,
                target_id=e.target_id,
                created_at=e.created_at,
            )
            for e, name in session.exec(query).all()
        ]
