"""The 404 page for unknown routes."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.layout import centered_card


def not_found_page() -> rx.Component:
    return centered_card(
        rx.heading("Page not found", size="6", as_="h1"),
        rx.text(
            "There is nothing at this address. Check the link, or go back to your agents.",
            color_scheme="gray",
        ),
        rx.link(rx.button("Go to agents", size="3", tab_index=-1), href="/agents"),
    )
