"""The invitation page (/invite/[token]): see, accept or decline an invitation."""

from __future__ import annotations

from urllib.parse import quote

import reflex as rx

from galaxyco_ui.errors import GalaxyError, NotFoundError
from galaxyco_ui.services import invitations
from galaxyco_ui.states.session import current_auth


class InviteState(rx.State):
    found: bool = False
    loaded: bool = False
    workspace_name: str = ""
    inviter_name: str = ""
    email: str = ""
    role: str = ""
    problem: str = ""
    signed_in_as: str = ""
    has_account: bool = False
    done: str = ""
    here: str = ""
    _token: str = ""

    @rx.event
    def load(self):
        self._token = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        self.here = quote(f"/invite/{self._token}", safe="")
        self.found, self.problem, self.done = False, "", ""
        auth = current_auth(self)
        self.signed_in_as = auth.email if auth else ""
        try:
            preview = invitations.preview_invitation(token=self._token)
        except NotFoundError:
            self.loaded = True
            return None
        self.found = True
        self.workspace_name, self.inviter_name = preview.workspace_name, preview.inviter_name
        self.email, self.role, self.has_account = preview.email, preview.role.value, preview.has_account
        if preview.status == "accepted":
            self.problem = "This invitation has already been accepted."
        elif preview.status in ("declined", "revoked"):
            self.problem = "This invitation is no longer valid. Ask for a new one."
        elif preview.expired:
            self.problem = "This invitation has expired. Ask for a new one."
        self.loaded = True
        return None

    @rx.event
    def accept(self):
        auth = current_auth(self)
        if auth is None:
            return rx.redirect(f"/login?next={self.here}")
        try:
            invitations.accept_invitation(user_id=auth.user_id, token=self._token, session_id=auth.session_id)
        except GalaxyError as exc:
            self.problem = exc.message
            return None
        return [rx.toast.success(f"Welcome to {self.workspace_name}!"), rx.redirect("/agents", replace=True)]

    @rx.event
    def decline(self):
        auth = current_auth(self)
        if auth is None:
            return rx.redirect(f"/login?next={self.here}")
        try:
            invitations.decline_invitation(user_id=auth.user_id, token=self._token)
        except GalaxyError as exc:
            self.problem = exc.message
            return None
        self.done = "You declined the invitation."
        return None
