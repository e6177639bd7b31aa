"""The Audit log card of /settings: the workspace's membership and settings changes."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.audit import AuditEventView
from galaxyco_ui.states.settings import SettingsState


def _event_row(e: ObjectVar[AuditEventView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.moment(e.created_at, format="YYYY-MM-DD HH:mm", size="2")),
        rx.table.cell(rx.text(e.actor_name, size="2")),
        rx.table.cell(rx.code(e.action, variant="ghost", size="1")),
        rx.table.cell(rx.text(e.summary, size="2")),
    )


def audit_log_card() -> rx.Component:
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
