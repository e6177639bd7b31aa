"""Invitations: invite by email (a link to copy, and an email when SMTP is set), list,
revoke, and the invitee's preview, accept and decline.

An invitation is for one email address, used once, and expires. Only the hash of its
token is looked up; the token is also kept encrypted so admins can copy the link again.

The token was delivered to the invited address, so answering an invitation (accept or
decline, which require that address) and signing up through its link
(``verify_invited_email``) mark that address verified.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui import notifications
from galaxyco_ui.auth.permissions import ROLE_LABELS, Permission, Role, TenantContext, can, require
from galaxyco_ui.auth.tokens import hash_token, new_token
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ConflictError, GalaxyError, NotFoundError, ValidationError
from galaxyco_ui.infra import crypto, mail
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Invitation, User, UserSession, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.team import parse_role
from galaxyco_ui.services.validation import lookup_id, normalize_email
from galaxyco_ui.services.workspaces import find_membership

INVITE_PURPOSE = "invite"


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


def invite_member(*, ctx: TenantContext, email: str, role: str) -> InviteResult:
    """Invite an email address; email it when SMTP is configured.

    Returns:
        The invitation (with the link to copy) and whether the email went out.
    """
    require(ctx, Permission.MANAGE_MEMBERS)
    email = normalize_email(email)
    new_role = parse_role(role, field="role")
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
    key = lookup_id(invitation_id)  # a NUL here would crash PostgreSQL
    with session_scope() as session:
        inv = session.get(Invitation, key) if key else None
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
        _check_inviter_still_invites(session, inv)
        user.email_verified = True  # the link reached this address
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
        note = (
            notifications.record(
                session,
                workspace_id=inv.workspace_id,
                kind="invite_accepted",
                title=f"{user.name} accepted your invitation",
                body=f"{user.name} ({user.email}) joined {workspace.name} as {ROLE_LABELS[Role(inv.role)]}.",
                link="/team",
                user_ids=[inv.created_by],
            )
            if inv.created_by and inv.created_by != user.id and existing is None
            else None
        )
        if session_id is not None:
            user_session = session.get(UserSession, session_id)
            if user_session is not None and user_session.user_id == user.id:
                user_session.current_workspace_id = inv.workspace_id
    notifications.announce_soon(note)
    return workspace.id


def decline_invitation(*, user_id: str, token: str) -> None:
    with session_scope() as session:
        inv, _ = _invitation_by_token(session, token)
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError("Your account")
        _check_answerable(inv, user)
        user.email_verified = True  # the link reached this address
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


def verify_invited_email(*, token: str, email: str) -> bool:
    """Right after a sign-up through an invite link (only then: the account with
    ``email`` was just created by whoever holds ``token``), verify its address if it is
    the one the pending, unexpired invitation was sent to.

    Returns:
        True when the address was marked verified.
    """
    with session_scope() as session:
        try:
            inv, _ = _invitation_by_token(session, token)
        except NotFoundError:
            return False
        try:
            email = normalize_email(email)
        except ValidationError:
            return False
        user = session.exec(select(User).where(User.email == email)).first()
        if (
            user is None
            or user.deleted_at is not None
            or inv.status != "pending"
            or inv.expires_at < utcnow()
            or user.email.lower() != inv.email.lower()
        ):
            return False
        user.email_verified = True
        return True


# ---------------------------------------------------------------- internals


def _can_manage(ctx: TenantContext) -> bool:
    return can(ctx, Permission.MANAGE_MEMBERS)


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


def _check_inviter_still_invites(session: Session, inv: Invitation) -> None:
    """Refuse an invitation whose sender has left, was removed, or may no longer invite.

    ``services/team.py`` revokes such invitations when the membership changes; this is
    the check at the door, for any that slipped through.
    """
    if inv.created_by is None:
        return
    inviter = find_membership(session, workspace_id=inv.workspace_id, user_id=inv.created_by)
    if inviter is None or not can(
        TenantContext(user_id=inv.created_by, workspace_id=inv.workspace_id, role=Role(inviter.role)),
        Permission.MANAGE_MEMBERS,
    ):
        raise ValidationError(
            {"invite": "Whoever invited you can no longer add people to this workspace. Ask for a new one."}
        )


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
