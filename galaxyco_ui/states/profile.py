"""The user's own pages: profile and password, two-factor setup, signed-in sessions.

Handlers that check a password or a code (argon2, and the throttle) run the service in a
thread: a slow hash must not stall every other websocket on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Callable
from typing import Any

import qrcode
import qrcode.image.svg
import reflex as rx

from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import email_links
from galaxyco_ui.services import profile as profile_service
from galaxyco_ui.services.accounts import AuthSession
from galaxyco_ui.services.profile import SessionView
from galaxyco_ui.states.session import (
    SessionState,
    client_ip,
    current_auth,
    error_toast,
    form_text,
    login_redirect,
)


def qr_data_uri(text: str) -> str:
    """An SVG QR code for ``text`` as a data: URI (no external request, no image library)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


class ProfileState(rx.State):
    name: str = ""
    email: str = ""
    has_password: bool = False
    totp_enabled: bool = False
    recovery_codes_left: int = 0
    errors: dict[str, str] = {}
    form_key: int = 0
    # Two-factor setup
    setup_secret: str = ""
    setup_qr: str = ""
    new_recovery_codes: rx.Field[list[str]] = rx.field(default_factory=list)
    # Sessions
    sessions: rx.Field[list[SessionView]] = rx.field(default_factory=list)
    # Email verification (services/email_links.py)
    email_verified: bool = True
    can_send_verification: bool = False

    @rx.event
    def load(self):
        auth = current_auth(self)
        if auth is None:
            return None
        profile = profile_service.get_profile(user_id=auth.user_id)
        self.name, self.email = profile.name, profile.email
        address = email_links.email_status(user_id=auth.user_id)
        self.email_verified, self.can_send_verification = address.verified, address.can_send
        self.has_password, self.totp_enabled = profile.has_password, profile.totp_enabled
        self.recovery_codes_left = profile.recovery_codes_left
        self.errors = {}
        self.form_key += 1
        self.sessions = profile_service.list_sessions(
            user_id=auth.user_id, current_session_id=auth.session_id
        )
        return None

    @rx.event
    async def resend_verification(self):
        """Mail the verification link again (throttled in the service)."""
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            await asyncio.to_thread(email_links.resend_verification, user_id=auth.user_id)
        except GalaxyError as exc:
            return error_toast(exc)
        return rx.toast.success(f"We sent a verification link to {self.email}.")

    @rx.event
    def leave_security(self):
        """Secrets shown during setup are forgotten when the page is left or reloaded."""
        self.setup_secret = self.setup_qr = ""
        self.new_recovery_codes = []

    @rx.event
    async def save_name(self, form: dict):
        return await self._do(
            lambda auth: profile_service.update_profile(user_id=auth.user_id, name=form_text(form, "name")),
            "Profile saved.",
            refresh_shell=True,
        )

    @rx.event
    async def change_password(self, form: dict):
        if form_text(form, "new_password") != form_text(form, "confirm_password"):
            self.errors = {"confirm_password": "The two new passwords do not match."}
            return None
        ip = client_ip(self)
        return await self._do(
            lambda auth: profile_service.change_password(
                user_id=auth.user_id,
                current_password=form_text(form, "current_password"),
                new_password=form_text(form, "new_password"),
                current_session_id=auth.session_id,
                ip=ip,
            ),
            "Password changed. Your other sessions were signed out.",
        )

    @rx.event
    def start_totp(self):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            secret, uri = profile_service.start_totp_setup(user_id=auth.user_id)
        except GalaxyError as exc:
            return error_toast(exc)
        self.setup_secret, self.setup_qr = secret, qr_data_uri(uri)
        self.errors = {}
        return None

    @rx.event
    async def confirm_totp(self, form: dict):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            codes = await asyncio.to_thread(
                profile_service.confirm_totp_setup,
                user_id=auth.user_id,
                code=form_text(form, "code"),
                ip=client_ip(self),
            )
        except ValidationError as exc:
            self.errors = exc.field_errors
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.setup_secret = self.setup_qr = ""
        self.new_recovery_codes = codes
        self.totp_enabled, self.recovery_codes_left = True, len(codes)
        return rx.toast.success("Two-factor authentication is on.")

    @rx.event
    async def regenerate_codes(self, form: dict):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            self.new_recovery_codes = await asyncio.to_thread(
                profile_service.regenerate_recovery_codes,
                user_id=auth.user_id,
                code=form_text(form, "code"),
                ip=client_ip(self),
            )
        except GalaxyError as exc:  # a wrong code, or too many of them
            self.errors = {"regen_code": exc.message}
            return None
        self.errors = {}
        self.recovery_codes_left = len(self.new_recovery_codes)
        return rx.toast.success("New recovery codes created. The old ones no longer work.")

    @rx.event
    async def disable_totp(self, form: dict):
        ip = client_ip(self)
        return await self._do(
            lambda auth: profile_service.disable_totp(
                user_id=auth.user_id, code=form_text(form, "code"), ip=ip
            ),
            "Two-factor authentication is off.",
            error_field="disable_code",
        )

    @rx.event
    async def revoke(self, session_id: str):
        ip = client_ip(self)
        return await self._do(
            lambda auth: profile_service.revoke_session(
                user_id=auth.user_id, session_id=str(session_id), ip=ip
            ),
            "Session signed out.",
        )

    @rx.event
    def revoke_others(self):
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        count = profile_service.revoke_other_sessions(
            user_id=auth.user_id, current_session_id=auth.session_id, ip=client_ip(self)
        )
        return [
            rx.toast.success(f"Signed out {count} other session{'s' if count != 1 else ''}."),
            ProfileState.load,
        ]

    async def _do(
        self,
        action: Callable[[AuthSession], object],
        done: str,
        *,
        refresh_shell: bool = False,
        error_field: str = "",
    ) -> Any:
        """Run ``action(auth)`` in a thread for the signed-in user, then toast and reload."""
        auth = current_auth(self)
        if auth is None:
            return login_redirect(self)
        try:
            await asyncio.to_thread(action, auth)
        except ValidationError as exc:
            self.errors = {error_field: exc.message} if error_field else exc.field_errors
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.new_recovery_codes = []
        events = [rx.toast.success(done), ProfileState.load]
        if refresh_shell:
            events.append(SessionState.refresh)
        return events
