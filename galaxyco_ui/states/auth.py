"""Sign-in and sign-up forms.

Credentials are checked by the accounts service; success yields a one-time ticket
and the browser is sent to ``/api/auth/session`` to trade it for the HttpOnly
session cookie (see services/accounts.py).

The ticket is bound to this browser's pre-auth cookie (``api/cookies.py``), which
the backend reads from the websocket handshake. A browser that comes without one is
sent to ``/api/auth/browser`` once to get it, and the forms stay hidden until then.

Password hashing (argon2) and the database run in a thread: these handlers are
reachable without signing in, and must not stall every other connection.

After an OAuth sign-in the callback may send the browser here (``/login?next=…``):
with ``linked=<provider>`` when it linked an existing account (a toast says so), and
with a *pending* session cookie when the user has two-factor on: the page then shows
only the code step (``verify_second_factor``), and the session opens nothing until
the code is checked. A password sign-up gets a verification email (SMTP set), or is
verified at once when it came through an invite link for that address.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote, urlsplit

import reflex as rx
from reflex_base.event import EventSpec  # rx.event.EventSpec is not a type to mypy

from galaxyco_ui.api.cookies import browser_binding_from_header, safe_next
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, TwoFactorRequiredError, ValidationError
from galaxyco_ui.services import accounts, email_links, invitations
from galaxyco_ui.states.session import client_ip, current_auth, form_text, session_token

NO_BROWSER_COOKIE = (
    "Your browser did not accept GalaxyCo's sign-in cookie. Allow cookies for this site, "
    "then reload the page."
)
# Full navigation to the route that sets the pre-auth cookie, and back to this very page.
_GET_BROWSER_COOKIE = (
    "window.location.replace('/api/auth/browser?next=' + "
    "encodeURIComponent(window.location.pathname + window.location.search))"
)


def _browser_binding(state: rx.State) -> str:
    return browser_binding_from_header(state.router.headers.cookie)


log = logging.getLogger(__name__)
LINKED = "Your account is now linked to {label}: you can sign in with it from now on."
SECOND_FACTOR = "Enter the 6-digit code from your authenticator app to finish signing in."


def _after_sign_up(email: str, next_url: str) -> None:
    """Verify the address of an invitee who signed up through their link; otherwise mail
    a verification link (when SMTP is set). Blocking: run it in a thread."""
    try:
        path = urlsplit(next_url).path
        if path.startswith("/invite/"):
            token = path.removeprefix("/invite/").strip("/")
            if invitations.verify_invited_email(token=token, email=email):
                return
        email_links.send_verification_later(email=email)
    except Exception:  # the account exists and is signed in: this must not undo that
        log.exception("could not verify or mail the verification link after a sign-up")


def _finish(ticket: str, next_url: str) -> EventSpec:
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
    oauth_providers: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    busy: bool = False
    # The forms show once this browser has its pre-auth cookie (see the module docstring).
    browser_ready: bool = False
    _browser_cookie_tries: int = 0
    _pending_password: str = ""
    # The code step of a pending OAuth session (two-factor on): no password to keep.
    second_factor_only: bool = False
    _linked_label: str = ""

    def _reset_form(self) -> None:
        self.error = self.notice = ""
        self.field_errors = {}
        self.needs_code = self.second_factor_only = False
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
        # Only a configured provider's name is shown: the query string is anyone's to write.
        self._linked_label = get_settings().oauth_providers().get(params.get("linked", ""), "")
        linked = LINKED.format(label=self._linked_label) if self._linked_label else ""
        if current_auth(self) is not None:
            go = rx.redirect(self.next_url, replace=True)
            return [rx.toast.success(linked, duration=8000), go] if linked else go
        if pending_email := accounts.pending_second_factor(token=session_token(self)):
            self.needs_code = self.second_factor_only = True
            self.email = pending_email
            self.notice = f"{linked} {SECOND_FACTOR}".strip()
        if _browser_binding(self):
            self.browser_ready, self._browser_cookie_tries = True, 0
        elif self._browser_cookie_tries < 1:
            self.browser_ready, self._browser_cookie_tries = False, self._browser_cookie_tries + 1
            return rx.call_script(_GET_BROWSER_COOKIE)
        else:  # it did not stick: say so rather than loop
            self.browser_ready, self.error = True, NO_BROWSER_COOKIE
        return None

    @rx.event
    async def sign_in(self, form: dict):
        self.error = self.notice = ""
        self.field_errors = {}
        email = (form_text(form, "email") or self.email).strip()
        password = form_text(form, "password") if not self.needs_code else self._pending_password
        code = form_text(form, "code")
        if not self.needs_code and (not email or not password):
            self.field_errors = {
                k: v
                for k, v in (("email", "Enter your email address."), ("password", "Enter your password."))
                if not (email if k == "email" else password)
            }
            return None
        if not (binding := _browser_binding(self)):
            self.error = NO_BROWSER_COOKIE
            return None
        try:
            ticket = await asyncio.to_thread(
                accounts.sign_in,
                email=email,
                password=password or "",
                totp_code=code,
                ip=client_ip(self),
                user_agent=self.router.headers.user_agent,
                binding=binding,
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
    async def cancel_code(self):
        if self.second_factor_only:  # give up the pending OAuth session
            await asyncio.to_thread(accounts.sign_out, token=session_token(self), ip=client_ip(self))
        self._reset_form()

    @rx.event
    async def verify_second_factor(self, form: dict):
        """The code step after an OAuth sign-in: the pending session becomes usable."""
        self.error = ""
        code = form_text(form, "code").strip()
        if not code:
            self.field_errors = {"code": "Enter the code from your authenticator app."}
            return None
        self.field_errors = {}
        try:
            await asyncio.to_thread(
                accounts.complete_second_factor, token=session_token(self), code=code, ip=client_ip(self)
            )
        except GalaxyError as exc:
            self.error = exc.message
            return None
        linked = LINKED.format(label=self._linked_label) if self._linked_label else ""
        self._reset_form()
        go = rx.redirect(self.next_url, replace=True)
        return [rx.toast.success(linked, duration=8000), go] if linked else go

    @rx.event
    async def sign_up(self, form: dict):
        self.error = ""
        self.field_errors = {}
        if not (binding := _browser_binding(self)):
            self.error = NO_BROWSER_COOKIE
            return None
        # The typed values stay in the (uncontrolled) inputs; state keeps only what the
        # URL prefilled, so a late state update never remounts a field under the user.
        try:
            ticket = await asyncio.to_thread(
                accounts.sign_up,
                email=form_text(form, "email"),
                name=form_text(form, "name"),
                password=form_text(form, "password"),
                ip=client_ip(self),
                user_agent=self.router.headers.user_agent,
                binding=binding,
            )
        except ValidationError as exc:
            self.field_errors = exc.field_errors
            return None
        except GalaxyError as exc:
            self.error = exc.message
            return None
        await asyncio.to_thread(_after_sign_up, form_text(form, "email"), self.next_url)
        return _finish(ticket, self.next_url)

    @rx.event
    def go_home(self):
        """``/``: the agents screen when signed in, the sign-in page otherwise."""
        return rx.redirect("/agents" if current_auth(self) else "/login", replace=True)
