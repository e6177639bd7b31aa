"""/invite/[token]: the page an invite link opens."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.layout import centered_card
from galaxyco_ui.states.invite import InviteState


def _signed_out_choices() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Sign in or create an account with ", rx.text.strong(InviteState.email), " to accept.", size="2"
        ),
        rx.link(
            rx.button("Sign in to accept", size="3", width="100%", tab_index=-1),
            href="/login?email=" + InviteState.email + "&next=" + InviteState.here,
            width="100%",
        ),
        rx.cond(
            ~InviteState.has_account,
            rx.link(
                rx.button("Create an account", size="3", variant="outline", width="100%", tab_index=-1),
                href="/signup?email=" + InviteState.email + "&next=" + InviteState.here,
                width="100%",
            ),
        ),
        width="100%",
        spacing="3",
    )


def _signed_in_choices() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Signed in as ", rx.text.strong(InviteState.signed_in_as), ".", size="2", color_scheme="gray"
        ),
        rx.hstack(
            rx.button("Decline", variant="soft", color_scheme="gray", size="3", on_click=InviteState.decline),
            rx.button("Accept invitation", size="3", on_click=InviteState.accept),
            justify="end",
            width="100%",
        ),
        width="100%",
        spacing="3",
    )


def invite_page() -> rx.Component:
    details = rx.vstack(
        rx.heading("Join ", InviteState.workspace_name, size="6", as_="h1"),
        rx.text(
            rx.cond(InviteState.inviter_name != "", InviteState.inviter_name, "A workspace admin"),
            " invited ",
            rx.text.strong(InviteState.email),
            " to join as ",
            rx.text.strong(InviteState.role),
            ".",
        ),
        rx.cond(
            InviteState.problem != "",
            rx.callout(
                InviteState.problem, icon="triangle_alert", color_scheme="red", role="alert", width="100%"
            ),
            rx.cond(
                InviteState.done != "",
                rx.callout(InviteState.done, icon="check", color_scheme="gray", width="100%"),
                rx.cond(InviteState.signed_in_as != "", _signed_in_choices(), _signed_out_choices()),
            ),
        ),
        width="100%",
        spacing="4",
    )
    missing = rx.vstack(
        rx.heading("Invitation not found", size="6", as_="h1"),
        rx.text("This link is not valid. Check that you copied all of it, or ask for a new invitation."),
        rx.link("Go to GalaxyCo", href="/agents"),
        spacing="3",
    )
    return centered_card(
        rx.cond(InviteState.loaded, rx.cond(InviteState.found, details, missing), rx.center(rx.spinner()))
    )
