"""Who is signed in, for every page: the shell's state and the tenant context helper.

The session token lives in an HttpOnly cookie that browser JavaScript cannot read.
The backend reads it from the websocket handshake headers on every event, so each
handler acts as the verified user of *this* connection, whatever the client sends.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

import reflex as rx
from reflex_base.event import EventSpec  # rx.event.EventSpec is not a type to mypy

from galaxyco_ui.auth.permissions import ROLE_LABELS, Permission, Role, TenantContext, can
from galaxyco_ui.auth.tokens import SESSION_COOKIE
from galaxyco_ui.errors import AuthenticationError, GalaxyError
from galaxyco_ui.infra.client_address import client_address
from galaxyco_ui.infra.logging import bind_log_context
from galaxyco_ui.infra.sentry import set_sentry_user
from galaxyco_ui.services import accounts, workspaces
from galaxyco_ui.services.accounts import AuthSession
from galaxyco_ui.services.workspaces import WorkspaceView


def session_token(state: rx.State) -> str:
    try:
        cookie = SimpleCookie(state.router.headers.cookie or "")
    except CookieError:
        return ""
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel else ""


def current_auth(state: rx.State) -> AuthSession | None:
    """The verified session of this connection, or None."""
    auth = accounts.resolve_session(token=session_token(state))
    if auth is not None:
        bind_log_context(user_id=auth.user_id, workspace_id=auth.workspace_id or "")
        set_sentry_user(auth.user_id, auth.workspace_id or "")
    return auth


def tenant_context(state: rx.State) -> TenantContext:
    """The acting user's context in their current workspace.

    Raises:
        AuthenticationError: not signed in, session expired, or no workspace.
    """
    auth = current_auth(state)
    if auth is None:
        raise AuthenticationError("Your session has ended. Please sign in again.")
    if auth.workspace_id is None or auth.role is None:
        raise AuthenticationError(
            "You are not a member of any workspace. Create one from the workspace menu."
        )
    return TenantContext(
        user_id=auth.user_id,
        workspace_id=auth.workspace_id,
        role=auth.role,
        session_id=auth.session_id,
        ip=client_ip(state),
    )


def client_ip(state: rx.State) -> str:
    """The client's address for this connection (``infra/client_address.py``).

    Reflex's own ``trusted_proxy_hops`` stays 0 (rxconfig.py), so ``client_ip`` is the
    socket peer and X-Forwarded-For is judged here, by the same rule as the API routes.
    """
    return client_address(
        state.router.session.client_ip or "",
        state.router.headers.raw_headers.get("x-forwarded-for", ""),
    )


def login_redirect(state: rx.State) -> EventSpec:
    return rx.redirect(f"/login?next={quote(str(state.router.url.path) or '/agents')}")


def form_text(form: object, key: str) -> str:
    """A text field of a submitted form; anything else a client sends counts as empty."""
    value = form.get(key) if isinstance(form, dict) else None
    return value if isinstance(value, str) else ""


def error_toast(exc: GalaxyError) -> EventSpec:
    return rx.toast.error(exc.message, close_button=True)


class SessionState(rx.State):
    """The signed-in user and their workspaces, shown by the app shell."""

    signed_in: bool = False
    user_name: str = ""
    user_email: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    role: str = ""
    workspaces: list[WorkspaceView] = []
    new_workspace_error: str = ""
    new_workspace_open: bool = False

    @rx.var
    def role_label(self) -> str:
        return ROLE_LABELS[Role(self.role)] if self.role else ""

    @rx.var
    def user_initials(self) -> str:
        parts = self.user_name.split()
        return "".join(p[0] for p in parts[:2]).upper() or "?"

    @rx.var
    def can_manage_members(self) -> bool:
        return self._can(Permission.MANAGE_MEMBERS)

    @rx.var
    def can_manage_settings(self) -> bool:
        return self._can(Permission.MANAGE_SETTINGS)

    @rx.var
    def can_create_agents(self) -> bool:
        return self._can(Permission.CREATE_AGENT)

    @rx.var
    def can_transfer_ownership(self) -> bool:
        return self._can(Permission.TRANSFER_OWNERSHIP)

    def _can(self, permission: Permission) -> bool:
        if not self.role:
            return False
        return can(TenantContext(user_id="", workspace_id="", role=Role(self.role)), permission)

    @rx.event
    def load_shell(self):
        """on_load of every signed-in page: fill the shell or send the visitor to sign in."""
        auth = current_auth(self)
        if auth is None:
            self.signed_in = False
            return login_redirect(self)
        self._fill(auth)

    def _fill(self, auth: AuthSession) -> None:
        self.signed_in = True
        self.user_name, self.user_email = auth.name, auth.email
        self.workspace_id = auth.workspace_id or ""
        self.role = auth.role.value if auth.role else ""
        self.workspaces = workspaces.list_my_workspaces(user_id=auth.user_id)
        self.workspace_name = next((w.name for w in self.workspaces if w.id == self.workspace_id), "")

    @rx.event
    def switch_workspace(self, workspace_id: str):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            workspaces.switch_workspace(
                user_id=auth.user_id, session_id=auth.session_id, workspace_id=workspace_id
            )
        except GalaxyError as exc:
            return error_toast(exc)
        # A full navigation reloads every page state for the new workspace.
        return rx.redirect("/agents", replace=True)

    @rx.event
    def create_workspace(self, form: dict):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            workspaces.create_workspace(
                user_id=auth.user_id, name=form.get("name", ""), session_id=auth.session_id
            )
        except GalaxyError as exc:
            self.new_workspace_error = exc.message
            return None
        self.new_workspace_error = ""
        self.new_workspace_open = False
        return rx.redirect("/agents", replace=True)

    @rx.event
    def set_new_workspace_open(self, is_open: bool):
        self.new_workspace_open = is_open
        self.new_workspace_error = ""

    @rx.event
    def refresh(self):
        """Re-read the session after a change to names or memberships."""
        auth = current_auth(self)
        if auth is not None:
            self._fill(auth)
