"""Team: members, roles, leaving and ownership transfer.

Rules beyond the permission table:
- admins manage admins, members and viewers, never owners; only owners grant ``owner``;
- a workspace always keeps at least one owner (the last one cannot leave or be demoted),
  even when two owners act at once: every membership change first locks the workspace
  row (``_lock_workspace``), so counting the owners and writing are one serialized step;
- the pending invitations someone sent are revoked when they leave, are removed, or
  lose the right to manage members (``accept_invitation`` re-checks the inviter too).

Invitations are in ``services/invitations.py``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, func, select, update

from galaxyco_ui.auth.permissions import (
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    TenantContext,
    require,
)
from galaxyco_ui.errors import (
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Invitation, User, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import lookup_id
from galaxyco_ui.services.workspaces import find_membership

INVITE_PURPOSE = "invite"


class MemberView(BaseModel):
    id: str
    user_id: str
    name: str
    email: str
    role: Role
    joined_at: datetime
    is_you: bool


# ---------------------------------------------------------------- members


def list_members(*, ctx: TenantContext) -> list[MemberView]:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = session.exec(
            select(WorkspaceMember, User)
            .join(User, col(User.id) == col(WorkspaceMember.user_id))
            .where(WorkspaceMember.workspace_id == ctx.workspace_id)
            .order_by(func.lower(User.name))
        ).all()
        return [
            MemberView(
                id=m.id,
                user_id=u.id,
                name=u.name,
                email=u.email,
                role=Role(m.role),
                joined_at=m.created_at,
                is_you=u.id == ctx.user_id,
            )
            for m, u in rows
        ]


def change_role(*, ctx: TenantContext, member_id: str, role: str) -> MemberView:
    """Give a member a new role.

    Raises:
        PermissionDeniedError: an admin touching an owner or granting ``owner``.
        ValidationError: unknown role, or demoting the last owner.
    """
    require(ctx, Permission.MANAGE_MEMBERS)
    new_role = parse_role(role, field="role")
    with session_scope() as session:
        _lock_workspace(session, ctx.workspace_id)
        member, user = _member(session, ctx, member_id)
        old_role = Role(member.role)
        if (old_role is Role.OWNER or new_role is Role.OWNER) and ctx.role is not Role.OWNER:
            raise PermissionDeniedError("Only an owner can change who owns this workspace.")
        if old_role is Role.OWNER and new_role is not Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError({"role": "A workspace needs at least one owner. Transfer ownership first."})
        if old_role is not new_role:
            member.role = new_role
            member.updated_at = utcnow()
            data: dict[str, object] = {"from": old_role, "to": new_role}
            if _manages_members(old_role) and not _manages_members(new_role):
                data["invitations_revoked"] = _revoke_invitations_from(session, ctx, user.id)
            audit.record(
                session,
                ctx,
                "member.role_changed",
                summary=f"Changed {user.name}'s role from {ROLE_LABELS[old_role]} to {ROLE_LABELS[new_role]}",
                target_type="user",
                target_id=user.id,
                data=data,
            )
        return _member_view(member, user, ctx)


def remove_member(*, ctx: TenantContext, member_id: str) -> None:
    require(ctx, Permission.MANAGE_MEMBERS)
    with session_scope() as session:
        _lock_workspace(session, ctx.workspace_id)
        member, user = _member(session, ctx, member_id)
        if member.user_id == ctx.user_id:
            raise ValidationError({"member": "Use “Leave workspace” to remove yourself."})
        if member.role == Role.OWNER and ctx.role is not Role.OWNER:
            raise PermissionDeniedError("Only an owner can remove an owner.")
        if member.role == Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError({"member": "A workspace needs at least one owner."})
        session.delete(member)
        revoked = _revoke_invitations_from(session, ctx, user.id)
        audit.record(
            session,
            ctx,
            "member.removed",
            summary=f"Removed {user.name} ({user.email})",
            target_type="user",
            target_id=user.id,
            data={"invitations_revoked": revoked} if revoked else None,
        )


def leave_workspace(*, ctx: TenantContext) -> None:
    """Leave the current workspace; the last owner must transfer ownership first."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        _lock_workspace(session, ctx.workspace_id)
        member = find_membership(session, workspace_id=ctx.workspace_id, user_id=ctx.user_id)
        if member is None:
            raise NotFoundError("Your membership")
        if member.role == Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError(
                {"member": "You are the only owner. Transfer ownership to someone else before leaving."}
            )
        session.delete(member)
        revoked = _revoke_invitations_from(session, ctx, ctx.user_id)
        audit.record(
            session,
            ctx,
            "member.left",
            summary="Left the workspace",
            target_type="user",
            target_id=ctx.user_id,
            data={"invitations_revoked": revoked} if revoked else None,
        )


def transfer_ownership(*, ctx: TenantContext, member_id: str) -> None:
    """Make another member the owner; the current owner becomes an admin."""
    require(ctx, Permission.TRANSFER_OWNERSHIP)
    with session_scope() as session:
        _lock_workspace(session, ctx.workspace_id)
        target, user = _member(session, ctx, member_id)
        if target.user_id == ctx.user_id:
            raise ValidationError({"member": "You already own this workspace."})
        me = find_membership(session, workspace_id=ctx.workspace_id, user_id=ctx.user_id)
        if me is None:
            raise NotFoundError("Your membership")
        if me.role != Role.OWNER:  # demoted by another owner since this request's session was read
            raise PermissionDeniedError("Only an owner can transfer ownership.")
        target.role, me.role = Role.OWNER, Role.ADMIN
        target.updated_at = me.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "workspace.ownership_transferred",
            summary=f"Transferred ownership to {user.name}",
            target_type="user",
            target_id=user.id,
        )


# ---------------------------------------------------------------- internals


def parse_role(role: str, *, field: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({field: "Choose owner, admin, member or viewer."}) from None


def _member(session: Session, ctx: TenantContext, member_id: str) -> tuple[WorkspaceMember, User]:
    key = lookup_id(member_id)
    member = session.get(WorkspaceMember, key) if key else None
    if member is None or member.workspace_id != ctx.workspace_id:
        raise NotFoundError("That member")
    user = session.get(User, member.user_id)
    if user is None:
        raise NotFoundError("That member")
    return member, user


def _member_view(member: WorkspaceMember, user: User, ctx: TenantContext) -> MemberView:
    return MemberView(
        id=member.id,
        user_id=user.id,
        name=user.name,
        email=user.email,
        role=Role(member.role),
        joined_at=member.created_at,
        is_you=user.id == ctx.user_id,
    )


def _lock_workspace(session: Session, workspace_id: str) -> None:
    """Hold the workspace's lock until this transaction ends (membership changes only).

    A no-op UPDATE of the workspace row is the one statement that locks on both
    databases: on PostgreSQL it takes the row lock (FOR NO KEY UPDATE, so inserts that
    merely reference the workspace are not blocked); on SQLite, where the driver opens
    the transaction lazily at the first write, a plain or FOR UPDATE SELECT would lock
    nothing, and this write takes the database's write lock now. Everything the
    transaction reads afterwards is what the previous lock holder committed.
    """
    session.exec(
        update(Workspace)
        .where(col(Workspace.id) == workspace_id)
        .values(updated_at=Workspace.updated_at)
        .execution_options(synchronize_session=False)
    )


def _manages_members(role: Role) -> bool:
    return Permission.MANAGE_MEMBERS in ROLE_PERMISSIONS[role]


def _revoke_invitations_from(session: Session, ctx: TenantContext, user_id: str) -> int:
    """Revoke the pending invitations ``user_id`` sent in this workspace; returns how many."""
    pending = session.exec(
        select(Invitation).where(
            Invitation.workspace_id == ctx.workspace_id,
            Invitation.created_by == user_id,
            Invitation.status == "pending",
        )
    ).all()
    for invitation in pending:
        invitation.status = "revoked"
        invitation.updated_at = utcnow()
    return len(pending)


def _owner_count(session: Session, ctx: TenantContext) -> int:
    return session.exec(
        select(func.count())
        .select_from(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == ctx.workspace_id, WorkspaceMember.role == Role.OWNER)
    ).one()
