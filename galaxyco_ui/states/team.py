"""The team screen (/team): members, roles, invitations, leaving, ownership."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import invitations, team
from galaxyco_ui.services.invitations import InvitationView
from galaxyco_ui.services.team import MemberView
from galaxyco_ui.states.session import SessionState, error_toast, require_page_auth, tenant_context


class TeamState(rx.State):
    members: list[MemberView] = []
    invitations: list[InvitationView] = []
    invite_errors: dict[str, str] = {}
    last_invite_link: str = ""
    last_invite_email: str = ""
    last_invite_note: str = ""
    invite_form_key: int = 0

    @rx.event
    def load(self):
        ctx = require_page_auth(self)
        if ctx is None:
            return None
        self.members = team.list_members(ctx=ctx)
        self.invitations = invitations.list_invitations(ctx=ctx)
        return None

    @rx.event
    def invite(self, form: dict):
        self.invite_errors = {}
        try:
            result = invitations.invite_member(
                ctx=tenant_context(self), email=form.get("email", ""), role=form.get("role", "")
            )
        except ValidationError as exc:
            self.invite_errors = exc.field_errors
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.last_invite_link = result.invitation.link
        self.last_invite_email = result.invitation.email
        if result.emailed:
            self.last_invite_note = (
                f"We emailed the invitation to {result.invitation.email}. You can also share this link:"
            )
        elif result.email_error:
            self.last_invite_note = result.email_error + " Share this link instead:"
        else:
            self.last_invite_note = "Share this link with them (email is not configured on this server):"
        self.invite_form_key += 1
        return TeamState.load

    @rx.event
    def dismiss_invite_link(self):
        self.last_invite_link = self.last_invite_note = self.last_invite_email = ""

    @rx.event
    def copy_link(self, link: str):
        return [rx.set_clipboard(link), rx.toast.success("Invite link copied.")]

    @rx.event
    def revoke(self, invitation_id: str):
        return self._act(
            lambda ctx: invitations.revoke_invitation(ctx=ctx, invitation_id=invitation_id),
            "Invitation revoked.",
        )

    @rx.event
    def change_role(self, member_id: str, role: str):
        return self._act(
            lambda ctx: team.change_role(ctx=ctx, member_id=member_id, role=role), "Role updated."
        )

    @rx.event
    def remove(self, member_id: str):
        return self._act(lambda ctx: team.remove_member(ctx=ctx, member_id=member_id), "Member removed.")

    @rx.event
    def transfer(self, member_id: str):
        return self._act(
            lambda ctx: team.transfer_ownership(ctx=ctx, member_id=member_id), "Ownership transferred."
        )

    @rx.event
    def leave(self):
        try:
            team.leave_workspace(ctx=tenant_context(self))
        except GalaxyError as exc:
            return error_toast(exc)
        return [rx.toast.success("You left the workspace."), rx.redirect("/agents", replace=True)]

    def _act(self, action, done: str):  # type: ignore[no-untyped-def]
        try:
            action(tenant_context(self))
        except GalaxyError as exc:
            return [error_toast(exc), TeamState.load]
        # Our own role may have changed (ownership transfer): refresh the shell too.
        return [rx.toast.success(done), TeamState.load, SessionState.refresh]
