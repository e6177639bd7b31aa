"""/forgot-password, /reset-password?token=… and /verify-email?token=…"""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.forms import form_error, text_input
from galaxyco_ui.components.layout import centered_card
from galaxyco_ui.states.account_links import ForgotPasswordState, ResetPasswordState, VerifyEmailState


def _back_to_sign_in() -> rx.Component:
    return rx.text(rx.link("Back to sign in", href="/login"), size="2")


def forgot_password_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            text_input(
                "Email",
                "email",
                form_id="forgot",
                type="email",
                auto_complete="email",
                required=True,
                default_value=ForgotPasswordState.email,
                key=ForgotPasswordState.email,
                error=ForgotPasswordState.field_errors.get("email", ""),
            ),
            rx.button("Send me a reset link", type="submit", size="3", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=ForgotPasswordState.request_link,
        width="100%",
        reset_on_submit=False,
    )
    return centered_card(
        rx.heading("Reset your password", size="6", as_="h1"),
        rx.text(
            "Enter the email address of your account and we will send you a link to choose a new password.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            ~ForgotPasswordState.mail_configured,
            rx.callout(
                "This server does not send email. Ask the person who runs GalaxyCo for a reset link.",
                icon="info",
                color_scheme="amber",
                width="100%",
            ),
        ),
        form_error(ForgotPasswordState.error),
        rx.cond(
            ForgotPasswordState.sent != "",
            rx.callout(
                ForgotPasswordState.sent, icon="mail", color_scheme="green", width="100%", role="status"
            ),
            form,
        ),
        _back_to_sign_in(),
    )


def reset_password_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.text("Choose a new password for ", rx.text.strong(ResetPasswordState.email), ".", size="2"),
            text_input(
                "New password",
                "password",
                form_id="reset",
                type="password",
                auto_complete="new-password",
                required=True,
                hint="At least 10 characters.",
                error=ResetPasswordState.field_errors.get("password", ""),
            ),
            text_input(
                "Repeat the new password",
                "confirm_password",
                form_id="reset",
                type="password",
                auto_complete="new-password",
                required=True,
                error=ResetPasswordState.field_errors.get("confirm_password", ""),
            ),
            rx.text(
                "Every browser signed in to your account will be signed out.", size="1", color_scheme="gray"
            ),
            rx.button("Set new password", type="submit", size="3", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=ResetPasswordState.set_new_password,
        width="100%",
        reset_on_submit=False,
    )
    done = rx.vstack(
        rx.callout(
            "Your password was changed, and every browser signed in to your account was signed out.",
            icon="check",
            color_scheme="green",
            width="100%",
            role="status",
        ),
        rx.link(
            rx.button("Sign in", size="3", width="100%", tab_index=-1),
            href="/login?email=" + ResetPasswordState.email,
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
    problem = rx.vstack(
        rx.callout(
            ResetPasswordState.problem, icon="triangle_alert", color_scheme="red", role="alert", width="100%"
        ),
        rx.link("Ask for a new link", href="/forgot-password"),
        spacing="3",
        width="100%",
    )
    return centered_card(
        rx.heading("Choose a new password", size="6", as_="h1"),
        rx.cond(
            ResetPasswordState.loaded,
            rx.cond(ResetPasswordState.done, done, rx.cond(ResetPasswordState.problem != "", problem, form)),
            rx.center(rx.spinner(size="3"), width="100%", aria_label="Loading"),
        ),
        _back_to_sign_in(),
    )


def verify_email_page() -> rx.Component:
    outcome = rx.vstack(
        rx.cond(
            VerifyEmailState.verified,
            rx.callout(
                VerifyEmailState.message, icon="check", color_scheme="green", width="100%", role="status"
            ),
            rx.callout(
                VerifyEmailState.message,
                icon="triangle_alert",
                color_scheme="red",
                width="100%",
                role="alert",
            ),
        ),
        rx.cond(
            VerifyEmailState.signed_in,
            rx.link("Go to your profile", href="/profile"),
            rx.link("Sign in", href="/login"),
        ),
        spacing="3",
        width="100%",
    )
    return centered_card(
        rx.heading("Email verification", size="6", as_="h1"),
        rx.cond(
            VerifyEmailState.loaded,
            outcome,
            rx.center(rx.spinner(size="3"), width="100%", aria_label="Loading"),
        ),
    )
