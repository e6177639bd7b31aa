"""Team: members, roles, invitations, leaving and ownership transfer.

Rules beyond the permission table:
- admins manage admins, members and viewers, never owners; only owners grant ``owner``;
- a workspace always keeps at least one owner (the last one cannot leave or be demoted);
- an invitation is for one email address, used once, and expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from galaxyco_ui.auth.permissions import ROLE_LABELS, Permission, Role, TenantContext, can, require
from galaxyco_ui.auth.tokens import hash_token, new_token
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import (
    ConflictError,
    GalaxyError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from galaxyco_ui.infra import crypto, mail
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Invitation, User, UserSession, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import normalize_email
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


class InvitationView(BaseModel):
    id: str
    email: str
    role: Role
    status: str
    invited_by: str
    expires_at: datetime
    link: str


class InvitePreview(BaseModel):
    """What the invite page shows before the invitee accepts or declines."""

    workspace_name: str
    inviter_name: str
    email: str
    role: Role
    status: str
    expired: bool
    has_account: bool


class InviteResult(BaseModel):
    invitation: InvitationView
    emailed: bool
    email_error: str = ""


def invite_link(token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/invite/{token}"


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
    new_role = _parse_role(role, field="role")
    with session_scope() as session:
        member, user = _member(session, ctx, member_id)
        old_role = Role(member.role)
        if (old_role is Role.OWNER or new_role is Role.OWNER) and ctx.role is not Role.OWNER:
            raise PermissionDeniedError("Only an owner can change who owns this workspace.")
        if old_role is Role.OWNER and new_role is not Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError({"role": "A workspace needs at least one owner. Transfer ownership first."})
        if old_role is not new_role:
            member.role = new_role
            member.updated_at = utcnow()
            audit.record(
                session,
                ctx,
                "member.role_changed",
                summary=f"Changed {user.name}'s role from {ROLE_LABELS[old_role]} to {ROLE_LABELS[new_role]}",
                target_type="user",
                target_id=user.id,
                data={"from": old_role, "to": new_role},
            )
        return _member_view(member, user, ctx)


def remove_member(*, ctx: TenantContext, member_id: str) -> None:
    require(ctx, Permission.MANAGE_MEMBERS)
    with session_scope() as session:
        member, user = _member(session, ctx, member_id)
        if member.user_id == ctx.user_id:
            raise ValidationError({"member": "Use “Leave workspace” to remove yourself."})
        if member.role == Role.OWNER and ctx.role is not Role.OWNER:
            raise PermissionDeniedError("Only an owner can remove an owner.")
        if member.role == Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError({"member": "A workspace needs at least one owner."})
        session.delete(member)
        audit.record(
            session,
            ctx,
            "member.removed",
            summary=f"Removed {user.name} ({user.email})",
            target_type="user",
            target_id=user.id,
        )


def leave_workspace(*, ctx: TenantContext) -> None:
    """Leave the current workspace; the last owner must transfer ownership first."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        member = find_membership(session, workspace_id=ctx.workspace_id, user_id=ctx.user_id)
        if member is None:
            raise NotFoundError("Your membership")
        if member.role == Role.OWNER and _owner_count(session, ctx) <= 1:
            raise ValidationError(
                {"member": "You are the only owner. Transfer ownership to someone else before leaving."}
            )
        session.delete(member)
        audit.record(
            session,
            ctx,
            "member.left",
            summary="Left the workspace",
            target_type="user",
            target_id=ctx.user_id,
        )


def transfer_ownership(*, ctx: TenantContext, member_id: str) -> None:
    """Make another member the owner; the current owner becomes an admin."""
    require(ctx, Permission.TRANSFER_OWNERSHIP)
    with session_scope() as session:
        target, user = _member(session, ctx, member_id)
        if target.user_id == ctx.user_id:
            raise ValidationError({"member": "You already own this workspace."})
        me = find_membership(session, workspace_id=ctx.workspace_id, user_id=ctx.user_id)
        if me is None:
            raise NotFoundError("Your membership")
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


# ---------------------------------------------------------------- invitations


def invite_member(*, ctx: TenantContext, email: str, role: str) -> InviteResult:
    """Invite an email address; email it when SMTP is configured.

    Returns:
        The invitation (with the link to copy) and whether the email went out.
    """
    require(ctx, Permission.MANAGE_MEMBERS)
    email = normalize_email(email)
    new_role = _parse_role(role, field="role")
    if new_role is Role.OWNER:
        raise ValidationError({"role": "Invite people as admin, member or viewer; transfer ownership later."})
    token = new_token()
    now = utcnow()
    with session_scope() as session:
        existing_user = session.exec(select(User).where(User.email == email)).first()
        if existing_user is not None and find_membership(
            session, workspace_id=ctx.workspace_id, user_id=existing_user.id
        ):
            raise ConflictError({"email": f"{email} is already a member of this workspace."})
        pending = session.exec(
            select(Invitation).where(
                Invitation.workspace_id == ctx.workspace_id,
                Invitation.email == email,
                Invitation.status == "pending",
                col(Invitation.expires_at) > now,
            )
        ).first()
        if pending is not None:
            raise ConflictError({"email": f"{email} already has a pending invitation. Copy its link below."})
        invitation = Invitation(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            email=email,
            role=new_role,
            token_hash=hash_token(token),
            token_encrypted=crypto.encrypt(token, purpose=INVITE_PURPOSE),
            expires_at=now + timedelta(hours=get_settings().invite_ttl_hours),
        )
        session.add(invitation)
        audit.record(
            session,
            ctx,
            "invitation.created",
            summary=f"Invited {email} as {ROLE_LABELS[new_role]}",
            target_type="invitation",
            target_id=invitation.id,
            data={"email": email, "role": new_role},
        )
        workspace = session.get(Workspace, ctx.workspace_id)
        inviter = session.get(User, ctx.user_id)
        view = _invitation_view(invitation, inviter.name if inviter else "")
        workspace_name = workspace.name if workspace else ""
    # Outside the transaction: never hold the database while talking to a mail server.
    emailed, email_error = False, ""
    if get_settings().smtp_host:
        subject, text, html = mail.invite_email(
            workspace_name, view.invited_by, ROLE_LABELS[new_role], view.link
        )
        try:
            emailed = mail.send_email(email, subject, text, html)
        except GalaxyError as exc:
            email_error = f"The invitation was created, but the email could not be sent: {exc.message}"
    return InviteResult(invitation=view, emailed=emailed, email_error=email_error)


def list_invitations(*, ctx: TenantContext) -> list[InvitationView]:
    """Pending, unexpired invitations; links only for those who manage members."""
    require(ctx, Permission.VIEW_WORKSPACE)
    may_manage = _can_manage(ctx)
    with session_scope() as session:
        rows = session.exec(
            select(Invitation, User.name)
            .join(User, col(User.id) == col(Invitation.created_by), isouter=True)
            .where(
                Invitation.workspace_id == ctx.workspace_id,
                Invitation.status == "pending",
                col(Invitation.expires_at) > utcnow(),
            )
            .order_by(col(Invitation.created_at).desc())
        ).all()
        views = [_invitation_view(inv, name or "") for inv, name in rows]
        if not may_manage:
            views = [v.model_copy(update={"link": ""}) for v in views]
        return views


def revoke_invitation(*, ctx: TenantContext, invitation_id: str) -> None:
    require(ctx, Permission.MANAGE_MEMBERS)
    with session_scope() as session:
        inv = session.get(Invitation, invitation_id)
        if inv is None or inv.workspace_id != ctx.workspace_id or inv.status != "pending":
            raise NotFoundError("That invitation")
        inv.status = "revoked"
        inv.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "invitation.revoked",
            summary=f"Revoked the invitation for {inv.email}",
            target_type="invitation",
            target_id=inv.id,
        )


def preview_invitation(*, token: str) -> InvitePreview:
    """What an invite link offers. Raises ``NotFoundError`` for an unknown token."""
    with session_scope() as session:
        inv, workspace = _invitation_by_token(session, token)
        inviter = session.get(User, inv.created_by) if inv.created_by else None
        has_account = session.exec(select(User.id).where(User.email == inv.email)).first() is not None
        return InvitePreview(
            workspace_name=workspace.name,
            inviter_name=inviter.name if inviter else "",
            email=inv.email,
            role=Role(inv.role),
            status=inv.status,
            expired=inv.expires_at < utcnow(),
            has_account=has_account,
        )


def accept_invitation(*, user_id: str, token: str, session_id: str | None = None) -> str:
    """Join the workspace the invitation is for, and make it the session's current one.

    Returns:
        The workspace id.

    Raises:
        NotFoundError: unknown token or workspace gone.
        ValidationError: used, revoked, expired, or addressed to another email.
    """
    with session_scope() as session:
        inv, workspace = _invitation_by_token(session, token)
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError("Your account")
        _check_answerable(inv, user)
        existing = find_membership(session, workspace_id=inv.workspace_id, user_id=user.id)
        if existing is None:
            session.add(
                WorkspaceMember(
                    workspace_id=inv.workspace_id, user_id=user.id, role=inv.role, created_by=inv.created_by
                )
            )
        inv.status, inv.responded_at, inv.responded_by = "accepted", utcnow(), user.id
        ctx = TenantContext(user_id=user.id, workspace_id=inv.workspace_id, role=Role(inv.role))
        audit.record(
            session,
            ctx,
            "invitation.accepted",
            summary=f"{user.name} joined as {ROLE_LABELS[Role(inv.role)]}",
            target_type="invitation",
            target_id=inv.id,
        )
        if session_id is not None:
            user_session = session.get(UserSession, session_id)
            if user_session is not None and user_session.user_id == user.id:
                user_session.current_workspace_id = inv.workspace_id
        return workspace.id


def decline_invitation(*, user_id: str, token: str) -> None:
    with session_scope() as session:
        inv, _ = _invitation_by_token(session, token)
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError("Your account")
        _check_answerable(inv, user)
        inv.status, inv.responded_at, inv.responded_by = "declined", utcnow(), user.id
        ctx = TenantContext(user_id=user.id, workspace_id=inv.workspace_id, role=Role(inv.role))
        audit.record(
            session,
            ctx,
            "invitation.declined",
            summary=f"{user.name} declined the invitation",
            target_type="invitation",
            target_id=inv.id,
        )


# ---------------------------------------------------------------- internals


def _can_manage(ctx: TenantContext) -> bool:
    return can(ctx, Permission.MANAGE_MEMBERS)


def _parse_role(role: str, *, field: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({field: "Choose owner, admin, member or viewer."}) from None


def _member(session: Session, ctx: TenantContext, member_id: str) -> tuple[WorkspaceMember, User]:
    member = session.get(WorkspaceMember, member_id)
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


def _owner_count(session: Session, ctx: TenantContext) -> int:
    return session.exec(
        select(func.count())
        .select_from(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == ctx.workspace_id, WorkspaceMember.role == Role.OWNER)
    ).one()


def _invitation_view(inv: Invitation, inviter_name: str) -> InvitationView:
    token = crypto.decrypt(inv.token_encrypted, purpose=INVITE_PURPOSE) if inv.token_encrypted else ""
    return InvitationView(
        id=inv.id,
        email=inv.email,
        role=Role(inv.role),
        status=inv.status,
        invited_by=inviter_name,
        expires_at=inv.expires_at,
        link=invite_link(token) if token else "",
    )


def _invitation_by_token(session: Session, token: str) -> tuple[Invitation, Workspace]:
    inv = session.exec(select(Invitation).where(Invitation.token_hash == hash_token(token or ""))).first()
    workspace = session.get(Workspace, inv.workspace_id) if inv is not None else None
    if inv is None or workspace is None or workspace.deleted_at is not None:
        raise NotFoundError("This invitation")
    return inv, workspace


def _check_answerable(inv: Invitation, user: User) -> None:
    if inv.status == "accepted":
        raise ValidationError({"invite": "This invitation has already been accepted."})
    if inv.status == "declined":
        raise ValidationError({"invite": "This invitation was declined. Ask for a new one."})
    if inv.status == "revoked":
        raise ValidationError({"invite": "This invitation was withdrawn. Ask for a new one."})
    if inv.expires_at < utcnow():
        raise ValidationError({"invite": "This invitation has expired. Ask for a new one."})
    if user.email.lower() != inv.email.lower():
        raise ValidationError(
            {"invite": f"This invitation was sent to {inv.email}. Sign in with that address to accept it."}
        )
