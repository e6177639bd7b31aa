"""The team screen (/team): members, roles, invitations, leaving, ownership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.services import invitations, team
from galaxyco_ui.services.invitations import InvitationView
from galaxyco_ui.services.team import MemberView
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.states.session import SessionState, error_toast


class TeamState(rx.State):
    members: rx.Field[list[MemberView]] = rx.field(default_factory=list)
    invitations: rx.Field[list[InvitationView]] = rx.field(default_factory=list)
    invite_errors: dict[str, str] = {}
    last_invite_link: str = ""
    last_invite_email: str = ""
    last_invite_note: str = ""
    invite_form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.members = team.list_members(ctx=ctx)
        self.invitations = invitations.list_invitations(ctx=ctx)
        return None

    @rx.event
    @guarded(field_errors="invite_errors")
    def invite(self, ctx: TenantContext, form: dict):
        self.invite_errors = {}
        result = invitations.invite_member(
            ctx=ctx, email=str(form.get("email", "")), role=str(form.get("role", ""))
        )
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
    @guarded
    def revoke(self, ctx: TenantContext, invitation_id: str):
        return self._act(
            lambda: invitations.revoke_invitation(ctx=ctx, invitation_id=invitation_id), "Invitation revoked."
        )

    @rx.event
    @guarded
    def change_role(self, ctx: TenantContext, member_id: str, role: str):
        return self._act(lambda: team.change_role(ctx=ctx, member_id=member_id, role=role), "Role updated.")

    @rx.event
    @guarded
    def remove(self, ctx: TenantContext, member_id: str):
        return self._act(lambda: team.remove_member(ctx=ctx, member_id=member_id), "Member removed.")

    @rx.event
    @guarded
    def transfer(self, ctx: TenantContext, member_id: str):
        return self._act(
            lambda: team.transfer_ownership(ctx=ctx, member_id=member_id), "Ownership transferred."
        )

    @rx.event
    @guarded
    def leave(self, ctx: TenantContext):
        team.leave_workspace(ctx=ctx)
        return [rx.toast.success("You left the workspace."), rx.redirect("/agents", replace=True)]

    def _act(self, action: Callable[[], object], done: str) -> list[Any]:  # specs and handlers
        try:
            action()
        except GalaxyError as exc:
            # The list may be stale (someone else changed it): show the error and reload.
            return [error_toast(exc), TeamState.load]
        # Our own role may have changed (ownership transfer): refresh the shell too.
        return [rx.toast.success(done), TeamState.load, SessionState.refresh]
