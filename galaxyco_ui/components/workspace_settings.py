"""The General card of /settings: the workspace's name (read-only below admin)."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.forms import text_input
from galaxyco_ui.states.settings import SettingsState


def general_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("General", size="4", as_="h2"),
            rx.form(
                rx.hstack(
                    rx.box(
                        text_input(
                            "Workspace name",
                            "name",
                            form_id="settings",
                            default_value=SettingsState.name,
                            required=True,
                            max_length=80,
                            error=SettingsState.name_error,
                            read_only=~SettingsState.can_rename,
                        ),
                        flex="1",
                    ),
                    rx.cond(
                        SettingsState.can_rename,
                        rx.button(
                            "Save",
                            type="submit",
                            size="3",
                            margin_top="1.6em",
                            aria_label="Save workspace name",
                        ),
                    ),
                    align="start",
                    width="100%",
                ),
                on_submit=SettingsState.rename,
                reset_on_submit=False,
                key=SettingsState.form_key,
                width="100%",
            ),
            rx.cond(
                ~SettingsState.can_rename,
                rx.text(
                    "Only admins and owners can change workspace settings.", size="2", color_scheme="gray"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
