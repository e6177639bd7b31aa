"""The pages that emailed links open: "Forgot password?", the reset form, and address
verification (services/email_links.py holds the rules).

Every handler runs the service in a thread (argon2, SMTP, database) and takes the link's
token from this page's own URL: the token is the only credential, and the service
checks it on every call.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import email_links
from galaxyco_ui.services.email_links import VerifyOutcome
from galaxyco_ui.states.session import client_ip, current_auth, form_text

SENT = (
    "If an account exists for {email}, we sent it a link to choose a new password. "
    "The link works once, for {minutes} minutes. Check your spam folder if it does not arrive."
)


def _token(state: rx.State) -> str:
    token = state.router.url.query_parameters.get("token", "")
    return token if isinstance(token, str) else ""


class ForgotPasswordState(rx.State):
    email: str = ""
    sent: str = ""
    error: str = ""
    field_errors: dict[str, str] = {}
    mail_configured: bool = True

    @rx.event
    def load(self):
        self.sent = self.error = ""
        self.field_errors = {}
        self.email = str(self.router.url.query_parameters.get("email", ""))[:320]
        self.mail_configured = email_links.mail_configured()

    @rx.event
    async def request_link(self, form: dict):
        self.sent = self.error = ""
        self.field_errors = {}
        email = form_text(form, "email").strip()
        try:
            await asyncio.to_thread(email_links.request_password_reset, email=email, ip=client_ip(self))
        except ValidationError as exc:
            self.field_errors = exc.field_errors
            return
        except GalaxyError as exc:
            self.error = exc.message
            return
        self.sent = SENT.format(email=email[:320], minutes=get_settings().password_reset_ttl_minutes)


class ResetPasswordState(rx.State):
    loaded: bool = False
    email: str = ""  # whose password the link resets; empty when the link is bad
    problem: str = ""
    done: bool = False
    field_errors: dict[str, str] = {}

    @rx.event
    async def load(self):
        self.loaded, self.done, self.problem, self.email = False, False, "", ""
        self.field_errors = {}
        try:
            self.email = await asyncio.to_thread(email_links.check_reset_link, token=_token(self))
        except GalaxyError as exc:
            self.problem = exc.message
        self.loaded = True

    @rx.event
    async def set_new_password(self, form: dict):
        password, confirm = form_text(form, "password"), form_text(form, "confirm_password")
        if password != confirm:
            self.field_errors = {"confirm_password": "The two passwords do not match."}
            return
        self.field_errors = {}
        try:
            await asyncio.to_thread(
                email_links.reset_password, token=_token(self), new_password=password, ip=client_ip(self)
            )
        except ValidationError as exc:
            if "token" in exc.field_errors:
                self.problem, self.email = exc.message, ""
            else:
                self.field_errors = exc.field_errors
            return
        self.done = True


class VerifyEmailState(rx.State):
    loaded: bool = False
    verified: bool = False
    message: str = ""
    signed_in: bool = False

    @rx.event
    async def load(self):
        self.loaded, self.verified, self.message = False, False, ""
        try:
            result = await asyncio.to_thread(email_links.verify_email, token=_token(self))
        except GalaxyError as exc:
            self.message = exc.message
        else:
            self.verified = True
            self.message = (
                f"Thank you: {result.email} is verified."
                if result.outcome is VerifyOutcome.VERIFIED
                else f"{result.email} was already verified. Nothing else to do."
            )
        self.signed_in = current_auth(self) is not None
        self.loaded = True
