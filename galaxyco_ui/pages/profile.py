"""/profile, /profile/security (two-factor) and /profile/sessions."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import text_input
from galaxyco_ui.components.notifications import notification_prefs_card
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.profile import SessionView
from galaxyco_ui.states.profile import ProfileState

TABS = (("Profile", "/profile"), ("Two-factor", "/profile/security"), ("Sessions", "/profile/sessions"))


def _err(name: str) -> rx.Var:
    # A dict var: mypy resolves reflex's typed rx.Field[dict] to an array var, so this one
    # stays a plain annotation, which mypy reads as the dict it holds at runtime.
    return ProfileState.errors.get(name, "")  # type: ignore[return-value]  # an ObjectVar here


def _tabs(current: str) -> rx.Component:
    return rx.hstack(
        *[
            rx.link(
                rx.button(label, variant="solid" if href == current else "soft", size="2", tab_index=-1),
                href=href,
                aria_current="page" if href == current else "false",
            )
            for label, href in TABS
        ],
        spacing="2",
    )


def _card(title: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="3", width="100%"),
        width="100%",
        max_width="640px",
    )


def profile_page() -> rx.Component:
    name_form = rx.form(
        rx.vstack(
            text_input(
                "Name",
                "name",
                form_id="profile",
                default_value=ProfileState.name,
                required=True,
                max_length=120,
                error=_err("name"),
            ),
            rx.hstack(
                rx.text("Email: ", rx.text.strong(ProfileState.email), size="2", color_scheme="gray"),
                rx.cond(
                    ProfileState.email_verified,
                    rx.badge("Verified", color_scheme="green"),
                    rx.badge("Not verified", color_scheme="amber"),
                ),
                align="center",
                spacing="2",
            ),
            rx.button("Save profile", type="submit"),
            spacing="3",
            width="100%",
        ),
        on_submit=ProfileState.save_name,
        reset_on_submit=False,
        key=ProfileState.form_key,
    )
    password_form = rx.form(
        rx.vstack(
            rx.cond(
                ProfileState.has_password,
                text_input(
                    "Current password",
                    "current_password",
                    form_id="pw",
                    type="password",
                    auto_complete="current-password",
                    error=_err("current_password"),
                ),
            ),
            text_input(
                "New password",
                "new_password",
                form_id="pw",
                type="password",
                auto_complete="new-password",
                hint="At least 10 characters.",
                error=_err("new_password"),
            ),
            text_input(
                "Repeat new password",
                "confirm_password",
                form_id="pw",
                type="password",
                auto_complete="new-password",
                error=_err("confirm_password"),
            ),
            rx.button(rx.cond(ProfileState.has_password, "Change password", "Set a password"), type="submit"),
            spacing="3",
            width="100%",
        ),
        on_submit=ProfileState.change_password,
        reset_on_submit=True,
    )
    return shell(
        "Your account",
        _tabs("/profile"),
        rx.cond(~ProfileState.email_verified, _unverified_notice()),
        _card("Profile", name_form),
        _card("Password", password_form),
        notification_prefs_card(),
    )


def _unverified_notice() -> rx.Component:
    """Unverified accounts work as usual; only sign-in through Google & co. waits for it."""
    return rx.callout(
        rx.vstack(
            rx.text(
                "Your email address is not verified yet. Until it is, signing in with Google, GitHub "
                "or single sign-on cannot be linked to this account.",
                size="2",
            ),
            rx.cond(
                ProfileState.can_send_verification,
                rx.button(
                    "Send the verification email again",
                    size="1",
                    variant="soft",
                    on_click=ProfileState.resend_verification,
                ),
                rx.text(
                    "This server does not send email: ask the person who runs GalaxyCo for a "
                    "password reset link, which also verifies your address.",
                    size="2",
                ),
            ),
            spacing="2",
        ),
        icon="mail-warning",
        color_scheme="amber",
        width="100%",
        max_width="640px",
        id="email-unverified",
    )


def _recovery_codes() -> rx.Component:
    return rx.cond(
        ProfileState.new_recovery_codes.length() > 0,
        rx.callout(
            rx.vstack(
                rx.text(
                    "Save these recovery codes somewhere safe. Each works once if you lose your device. "
                    "They are shown only now.",
                    size="2",
                ),
                rx.grid(
                    rx.foreach(ProfileState.new_recovery_codes, lambda c: rx.code(c, class_name="gx-code")),
                    columns="2",
                    spacing="2",
                    id="recovery-codes",
                ),
                spacing="2",
            ),
            icon="key-round",
            color_scheme="amber",
            width="100%",
        ),
    )


def security_page() -> rx.Component:
    setup = rx.cond(
        ProfileState.setup_secret != "",
        rx.vstack(
            rx.text(
                "1. Scan this code with an authenticator app (1Password, Google Authenticator, Authy…).",
                size="2",
            ),
            rx.image(
                src=ProfileState.setup_qr,
                alt="QR code to add GalaxyCo to your authenticator app",
                width="200px",
                height="200px",
                class_name="gx-qr",
            ),
            rx.text(
                "Or enter this key by hand: ", rx.code(ProfileState.setup_secret, id="totp-secret"), size="2"
            ),
            rx.form(
                rx.vstack(
                    text_input(
                        "2. Enter the 6-digit code it shows",
                        "code",
                        form_id="totp",
                        auto_complete="one-time-code",
                        input_mode="numeric",
                        max_length=6,
                        error=_err("code"),
                    ),
                    rx.button("Turn on two-factor authentication", type="submit"),
                    spacing="3",
                ),
                on_submit=ProfileState.confirm_totp,
                reset_on_submit=True,
            ),
            spacing="3",
        ),
        rx.button(
            rx.icon("shield-plus", size=16),
            "Set up two-factor authentication",
            on_click=ProfileState.start_totp,
        ),
    )
    enabled = rx.vstack(
        rx.callout(
            "Two-factor authentication is on.", icon="shield-check", color_scheme="green", width="100%"
        ),
        rx.text(
            ProfileState.recovery_codes_left, " unused recovery codes left.", size="2", color_scheme="gray"
        ),
        rx.form(
            rx.hstack(
                rx.box(
                    text_input(
                        "Current code",
                        "code",
                        form_id="regen",
                        auto_complete="one-time-code",
                        error=_err("regen_code"),
                    ),
                    flex="1",
                ),
                rx.button("New recovery codes", type="submit", variant="soft", margin_top="1.6em"),
                align="start",
                width="100%",
            ),
            on_submit=ProfileState.regenerate_codes,
            reset_on_submit=True,
        ),
        rx.form(
            rx.hstack(
                rx.box(
                    text_input(
                        "Code or recovery code", "code", form_id="disable", error=_err("disable_code")
                    ),
                    flex="1",
                ),
                rx.button("Turn off", type="submit", color_scheme="red", variant="soft", margin_top="1.6em"),
                align="start",
                width="100%",
            ),
            on_submit=ProfileState.disable_totp,
            reset_on_submit=True,
        ),
        spacing="3",
        width="100%",
    )
    return shell(
        "Your account",
        _tabs("/profile/security"),
        _card(
            "Two-factor authentication",
            rx.text(
                "Ask for a code from your phone, as well as your password, when you sign in.",
                size="2",
                color_scheme="gray",
            ),
            _recovery_codes(),
            rx.cond(ProfileState.totp_enabled, enabled, setup),
        ),
    )


def _session_row(s: ObjectVar[SessionView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(s.device, size="2", weight="medium", title=s.user_agent),
                rx.text(s.ip, " · signed in with ", s.method, size="1", color_scheme="gray"),
                spacing="1",
            )
        ),
        rx.table.cell(rx.moment(s.created_at, format="YYYY-MM-DD HH:mm", size="2")),
        rx.table.cell(
            rx.cond(s.last_seen_at, rx.moment(s.last_seen_at, from_now=True, size="2"), rx.text("—"))
        ),
        rx.table.cell(
            rx.cond(
                s.current,
                rx.badge("This browser", color_scheme="green"),
                rx.button(
                    "Sign out",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=ProfileState.revoke(s.id),  # type: ignore[operator]  # rx.event handler: untyped to mypy
                ),
            )
        ),
        align="center",
    )


def sessions_page() -> rx.Component:
    return shell(
        "Your account",
        _tabs("/profile/sessions"),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Signed-in sessions", size="4", as_="h2"),
                    rx.spacer(),
                    rx.button(
                        "Sign out all other sessions",
                        variant="soft",
                        color_scheme="red",
                        on_click=ProfileState.revoke_others,
                    ),
                    width="100%",
                    align="center",
                ),
                data_table(["Browser", "Signed in", "Last active", ""], ProfileState.sessions, _session_row),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
    )
