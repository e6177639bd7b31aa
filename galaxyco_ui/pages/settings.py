"""/settings: the workspace's name, provider keys, knowledge settings and its audit log."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.forms import text_input
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.pages.knowledge_settings import knowledge_settings_card
from galaxyco_ui.pages.providers import providers_card
from galaxyco_ui.services.audit import AuditEventView
from galaxyco_ui.states.settings import SettingsState


def _general() -> rx.Component:
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


def _event_row(e: AuditEventView) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.moment(e.created_at, format="YYYY-MM-DD HH:mm", size="2")),
        rx.table.cell(rx.text(e.actor_name, size="2")),
        rx.table.cell(rx.code(e.action, variant="ghost", size="1")),
        rx.table.cell(rx.text(e.summary, size="2")),
    )


def _audit_log() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Audit log", size="4", as_="h2"),
            rx.text(
                "Every membership and settings change in this workspace, newest first.",
                size="2",
                color_scheme="gray",
            ),
            data_table(
                ["When", "Who", "Action", "What happened"], SettingsState.events, _event_row, size="1"
            ),
            rx.cond(
                SettingsState.more_events,
                rx.button("Load older events", variant="soft", on_click=SettingsState.load_more),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def settings_page() -> rx.Component:
    return shell(
        "Settings",
        _general(),
        providers_card(),
        knowledge_settings_card(),
        rx.cond(SettingsState.can_view_audit, _audit_log()),
    )
