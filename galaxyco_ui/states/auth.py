"""Sign-in and sign-up forms.

Credentials are checked by the accounts service; success yields a one-time ticket
and the browser is sent to ``/api/auth/session`` to trade it for the HttpOnly
session cookie (see services/accounts.py).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import reflex as rx

from galaxyco_ui.api.cookies import safe_next
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, TwoFactorRequiredError, ValidationError
from galaxyco_ui.services import accounts
from galaxyco_ui.states.session import client_ip, current_auth


def _finish(ticket: str, next_url: str) -> rx.event.EventSpec:
    """Full navigation (not client routing): the cookie is set by a backend route."""
    url = f"/api/auth/session?ticket={quote(ticket)}&next={quote(next_url)}"
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


class AuthFormState(rx.State):
    error: str = ""
    notice: str = ""
    field_errors: dict[str, str] = {}
    needs_code: bool = False
    next_url: str = "/agents"
    email: str = ""
    oauth_providers: list[list[str]] = []
    busy: bool = False
    _pending_password: str = ""

    def _reset_form(self) -> None:
        self.error = self.notice = ""
        self.field_errors = {}
        self.needs_code = False
        self.busy = False
        self._pending_password = ""

    @rx.event
    def load(self):
        """on_load of /login and /signup: read ?next, ?error, ?email; skip if signed in."""
        params = self.router.url.query_parameters
        self._reset_form()
        self.next_url = safe_next(params.get("next"))
        self.error = params.get("error", "")[:300]
        self.email = params.get("email", "")[:320]
        if params.get("signed_out"):
            self.notice = "You have been signed out."
        self.oauth_providers = [
            [key, label, f"/api/auth/oauth/{key}/start?next={quote(self.next_url)}"]
            for key, label in get_settings().oauth_providers().items()
        ]
        if current_auth(self) is not None:
            return rx.redirect(self.next_url, replace=True)
        return None

    @rx.event
    def sign_in(self, form: dict):
        self.error = self.notice = ""
        self.field_errors = {}
        email = (form.get("email") or self.email).strip()
        password = form.get("password") if not self.needs_code else self._pending_password
        code = form.get("code", "")
        if not self.needs_code and (not email or not password):
            self.field_errors = {
                k: v
                for k, v in (("email", "Enter your email address."), ("password", "Enter your password."))
                if not (email if k == "email" else password)
            }
            return None
        try:
            ticket = accounts.sign_in(
                email=email,
                password=password or "",
                totp_code=code,
                ip=client_ip(self),
                user_agent=self.router.headers.user_agent,
            )
        except TwoFactorRequiredError as exc:
            self.needs_code, self.email, self._pending_password = True, email, password or ""
            self.notice = exc.message
            return None
        except GalaxyError as exc:
            if not self.needs_code:
                self._pending_password = ""
            self.error = exc.message
            return None
        self._pending_password = ""
        return _finish(ticket, self.next_url)

    @rx.event
    def cancel_code(self):
        self._reset_form()

    @rx.event
    def sign_up(self, form: dict):
        self.error = ""
        self.field_errors = {}
        # The typed values stay in the (uncontrolled) inputs; state keeps only what the
        # URL prefilled, so a late state update never remounts a field under the user.
        try:
            ticket = accounts.sign_up(
                email=form.get("email", ""),
                name=form.get("name", ""),
                password=form.get("password", ""),
                ip=client_ip(self),
                user_agent=self.router.headers.user_agent,
            )
        except ValidationError as exc:
            self.field_errors = exc.field_errors
            return None
        except GalaxyError as exc:
            self.error = exc.message
            return None
        return _finish(ticket, self.next_url)

    @rx.event
    def go_home(self):
        """``/``: the agents screen when signed in, the sign-in page otherwise."""
        return rx.redirect("/agents" if current_auth(self) else "/login", replace=True)
