"""Workspaces: create, list, switch, rename."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import UserSession, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import clean_name, lookup_id


class WorkspaceView(BaseModel):
    id: str
    name: str
    role: Role


def find_membership(session: Session, *, workspace_id: str | None, user_id: str) -> WorkspaceMember | None:
    """The user's membership of a live (not deleted) workspace, or None."""
    if workspace_id is None:
        return None
    return session.exec(
        select(WorkspaceMember)
        .join(Workspace, col(Workspace.id) == col(WorkspaceMember.workspace_id))
        .where(
            WorkspaceMember.workspace_id == workspace_id,
            WorkspaceMember.user_id == user_id,
            col(Workspace.deleted_at).is_(None),
        )
    ).first()


def add_workspace(session: Session, *, user_id: str, name: str) -> Workspace:
    """Insert a workspace with ``user_id`` as its owner, in the caller's transaction."""
    workspace = Workspace(name=name, created_by=user_id)
    session.add(workspace)
    session.flush()
    session.add(
        WorkspaceMember(workspace_id=workspace.id, user_id=user_id, role=Role.OWNER, created_by=user_id)
    )
    ctx = TenantContext(user_id=user_id, workspace_id=workspace.id, role=Role.OWNER)
    audit.record(
        session,
        ctx,
        "workspace.created",
        summary=f"Created workspace “{name}”",
        target_type="workspace",
        target_id=workspace.id,
    )
    return workspace


def create_workspace(*, user_id: str, name: str, session_id: str | None = None) -> WorkspaceView:
    """Create a workspace owned by the user and, given ``session_id``, switch to it."""
    name = clean_name(name, field="name", label="Workspace name", max_length=80)
    with session_scope() as session:
        count = session.exec(
            select(func.count())
            .select_from(WorkspaceMember)
            .where(WorkspaceMember.user_id == user_id, WorkspaceMember.role == Role.OWNER)
        ).one()
        if count >= get_settings().max_workspaces_per_user:
            raise ValidationError({"name": "You own as many workspaces as allowed. Delete one first."})
        workspace = add_workspace(session, user_id=user_id, name=name)
        if session_id is not None:
            _set_current(session, session_id=session_id, user_id=user_id, workspace_id=workspace.id)
        return WorkspaceView(id=workspace.id, name=workspace.name, role=Role.OWNER)


def list_my_workspaces(*, user_id: str) -> list[WorkspaceView]:
    """The workspaces the user belongs to, by name."""
    with session_scope() as session:
        rows = session.exec(
            select(Workspace, WorkspaceMember.role)
            .join(WorkspaceMember, col(WorkspaceMember.workspace_id) == col(Workspace.id))
            .where(WorkspaceMember.user_id == user_id, col(Workspace.deleted_at).is_(None))
            .order_by(func.lower(Workspace.name))
        ).all()
        return [WorkspaceView(id=w.id, name=w.name, role=Role(role)) for w, role in rows]


def switch_workspace(*, user_id: str, session_id: str, workspace_id: str) -> WorkspaceView:
    """Make ``workspace_id`` the session's current workspace (the user must be a member)."""
    with session_scope() as session:
        return _set_current(session, session_id=session_id, user_id=user_id, workspace_id=workspace_id)


def get_workspace(*, ctx: TenantContext) -> WorkspaceView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        workspace = _live_workspace(session, ctx.workspace_id)
        return WorkspaceView(id=workspace.id, name=workspace.name, role=ctx.role)


def rename_workspace(*, ctx: TenantContext, name: str) -> WorkspaceView:
    require(ctx, Permission.RENAME_WORKSPACE)
    name = clean_name(name, field="name", label="Workspace name", max_length=80)
    with session_scope() as session:
        workspace = _live_workspace(session, ctx.workspace_id)
        old = workspace.name
        workspace.name = name
        workspace.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "workspace.renamed",
            summary=f"Renamed workspace “{old}” to “{name}”",
            target_type="workspace",
            target_id=workspace.id,
            data={"from": old, "to": name},
        )
        return WorkspaceView(id=workspace.id, name=workspace.name, role=ctx.role)


def _live_workspace(session: Session, workspace_id: str) -> Workspace:
    key = lookup_id(workspace_id)
    workspace = session.get(Workspace, key) if key else None
    if workspace is None or workspace.deleted_at is not None:
        raise NotFoundError("That workspace")
    return workspace


def _set_current(session: Session, *, session_id: str, user_id: str, workspace_id: str) -> WorkspaceView:
    if lookup_id(workspace_id) is None:  # the browser sends this id: keep junk off the database
        raise NotFoundError("That workspace")
    membership = find_membership(session, workspace_id=workspace_id, user_id=user_id)
    user_session = session.get(UserSession, session_id)
    if membership is None or user_session is None or user_session.user_id != user_id:
        raise NotFoundError("That workspace")
    user_session.current_workspace_id = workspace_id
    workspace = _live_workspace(session, workspace_id)
    return WorkspaceView(id=workspace.id, name=workspace.name, role=Role(membership.role))
