"""Page layout pieces: the centred card of pages outside the app shell (sign-in, invites,
404), empty states, and the link back to the parent screen."""

from __future__ import annotations

import reflex as rx


def centered_card(*children: rx.Component, width: str = "420px") -> rx.Component:
    return rx.el.main(
        rx.center(
            rx.vstack(
                rx.hstack(
                    rx.icon("orbit", size=28, aria_hidden="true"),
                    rx.heading("GalaxyCo", size="6"),
                    align="center",
                    spacing="2",
                ),
                rx.card(rx.vstack(*children, spacing="4", width="100%"), size="4", width="100%"),
                align="center",
                spacing="5",
                width="100%",
                max_width=width,
            ),
            min_height="100vh",
            padding="1.5em",
        ),
        id="main",
    )


def empty_state(icon: str, title: str, body: str, action: rx.Component | None = None) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon(icon, size=36, aria_hidden="true", class_name="gx-muted"),
            rx.heading(title, size="4", as_="h2"),
            rx.text(body, size="2", color_scheme="gray", text_align="center", max_width="480px"),
            action if action is not None else rx.fragment(),
            align="center",
            spacing="3",
            padding="2em",
        ),
        width="100%",
    )


def back_link(label: rx.Var | str, href: rx.Var | str) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("arrow-left", size=14, aria_hidden="true"), rx.text(label, size="2"), align="center"
        ),
        href=href,
    )
