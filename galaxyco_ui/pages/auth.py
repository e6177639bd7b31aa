"""/login and /signup."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.forms import form_error, text_input
from galaxyco_ui.components.layout import centered_card
from galaxyco_ui.states.auth import AuthFormState


def _oauth_buttons() -> rx.Component:
    return rx.cond(
        AuthFormState.oauth_providers.length() > 0,
        rx.vstack(
            rx.foreach(
                AuthFormState.oauth_providers,
                lambda p: rx.el.a(
                    rx.button(
                        rx.icon("key-round", size=16, aria_hidden="true"),
                        "Continue with " + p[1],
                        variant="outline",
                        width="100%",
                        size="3",
                        tab_index=-1,
                    ),
                    href=p[2],
                    # A backend route: the browser must load it, not the client router.
                    reload_document=True,
                    class_name="gx-block-link",
                    id="oauth-" + p[0],
                ),
            ),
            rx.hstack(
                rx.separator(),
                rx.text("or", size="1", color_scheme="gray"),
                rx.separator(),
                align="center",
                width="100%",
            ),
            width="100%",
            spacing="3",
        ),
    )


def _when_browser_ready(*children: rx.Component) -> rx.Component:
    """The forms, once this browser holds its pre-auth cookie (a redirect away at most)."""
    return rx.cond(
        AuthFormState.browser_ready,
        rx.vstack(*children, spacing="4", width="100%"),
        rx.center(rx.spinner(size="3"), width="100%", padding="2em", aria_label="Loading"),
    )


def _notice() -> rx.Component:
    return rx.cond(
        AuthFormState.notice != "",
        rx.callout(AuthFormState.notice, icon="info", color_scheme="blue", width="100%", role="status"),
    )


def _email_field(form_id: str) -> rx.Component:
    # Keyed on the prefilled address (an invite link's), so the field remounts with it.
    return text_input(
        "Email",
        "email",
        form_id=form_id,
        type="email",
        auto_complete="email",
        required=True,
        default_value=AuthFormState.email,
        key=AuthFormState.email,
        error=AuthFormState.field_errors.get("email", ""),
    )


def _code_step(form_id: str) -> rx.Component:
    return rx.vstack(
        text_input(
            "Authentication code",
            "code",
            form_id=form_id,
            hint="The 6-digit code from your authenticator app, or one of your recovery codes.",
            auto_complete="one-time-code",
            input_mode="text",
            required=True,
            auto_focus=True,
            error=AuthFormState.field_errors.get("code", ""),
        ),
        rx.button("Verify", type="submit", size="3", width="100%"),
        rx.button("Use another account", type="button", variant="ghost", on_click=AuthFormState.cancel_code),
        spacing="4",
        width="100%",
    )


def login_page() -> rx.Component:
    password_step = rx.vstack(
        _email_field("login"),
        text_input(
            "Password",
            "password",
            form_id="login",
            type="password",
            auto_complete="current-password",
            required=True,
            error=AuthFormState.field_errors.get("password", ""),
        ),
        rx.link("Forgot password?", href="/forgot-password", size="2", align_self="end"),
        rx.button("Sign in", type="submit", size="3", width="100%", loading=AuthFormState.busy),
        spacing="4",
        width="100%",
    )
    code_step = _code_step("login")
    return centered_card(
        rx.heading("Sign in", size="6", as_="h1"),
        _notice(),
        form_error(AuthFormState.error),
        _when_browser_ready(
            rx.cond(AuthFormState.needs_code, rx.fragment(), _oauth_buttons()),
            rx.cond(
                AuthFormState.second_factor_only,
                # After an OAuth sign-in of a two-factor user: only the code is missing.
                rx.form(
                    _code_step("second-factor"),
                    on_submit=AuthFormState.verify_second_factor,
                    width="100%",
                    reset_on_submit=True,
                ),
                rx.form(
                    rx.cond(AuthFormState.needs_code, code_step, password_step),
                    on_submit=AuthFormState.sign_in,
                    width="100%",
                    reset_on_submit=False,
                ),
            ),
        ),
        rx.text(
            "New to GalaxyCo? ",
            rx.link("Create an account", href="/signup?next=" + AuthFormState.next_url),
            size="2",
        ),
    )


def signup_page() -> rx.Component:
    return centered_card(
        rx.heading("Create your account", size="6", as_="h1"),
        rx.text(
            "You get a personal workspace; invite your team whenever you like.", size="2", color_scheme="gray"
        ),
        form_error(AuthFormState.error),
        _when_browser_ready(
            _oauth_buttons(),
            rx.form(
                rx.vstack(
                    text_input(
                        "Your name",
                        "name",
                        form_id="signup",
                        auto_complete="name",
                        required=True,
                        max_length=120,
                        error=AuthFormState.field_errors.get("name", ""),
                    ),
                    _email_field("signup"),
                    text_input(
                        "Password",
                        "password",
                        form_id="signup",
                        type="password",
                        auto_complete="new-password",
                        required=True,
                        hint="At least 10 characters.",
                        error=AuthFormState.field_errors.get("password", ""),
                    ),
                    rx.button("Create account", type="submit", size="3", width="100%"),
                    spacing="4",
                    width="100%",
                ),
                on_submit=AuthFormState.sign_up,
                width="100%",
                reset_on_submit=False,
            ),
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Sign in", href="/login?next=" + AuthFormState.next_url),
            size="2",
        ),
    )
