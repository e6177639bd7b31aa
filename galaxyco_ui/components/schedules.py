"""The Schedules panel of an agent's page: its cron schedules, pause, delete, add."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import select_input, text_input
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.schedules import ScheduleView
from galaxyco_ui.states.agent_run import AgentRunState


def _schedule_row(s: ObjectVar[ScheduleView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(s.description, size="2", weight="medium"),
                rx.text(
                    rx.code(s.cron),
                    " · ",
                    s.timezone,
                    " · ",
                    rx.cond(s.agent_version, "version " + s.agent_version.to(str), "latest version"),
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(s.input, size="2", class_name="gx-clamp")),
        rx.table.cell(
            rx.cond(
                s.enabled,
                rx.vstack(rx.foreach(s.next_fires, lambda f: rx.text(f, size="1")), spacing="0"),
                rx.badge("paused", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.cond(
                s.can_edit,
                rx.hstack(
                    rx.button(
                        rx.cond(s.enabled, "Pause", "Resume"),
                        size="1",
                        variant="soft",
                        on_click=AgentRunState.toggle_schedule(s.id),
                    ),
                    confirm_dialog(
                        rx.button("Delete", size="1", variant="soft", color_scheme="red"),
                        title="Delete this schedule?",
                        body="The agent will no longer run on “" + s.description.to(str) + "”.",
                        confirm_label="Delete schedule",
                        on_confirm=AgentRunState.delete_schedule(s.id),
                    ),
                    spacing="2",
                ),
            )
        ),
        align="center",
    )


def schedules_panel() -> rx.Component:
    errors = AgentRunState.schedule_errors
    add_form = rx.form(
        rx.vstack(
            rx.grid(
                text_input(
                    "Cron expression",
                    "cron",
                    form_id="schedule",
                    placeholder="0 9 * * 1-5",
                    hint="minute hour day month weekday",
                    error=errors.get("cron", ""),
                ),
                text_input(
                    "Time zone",
                    "timezone",
                    form_id="schedule",
                    default_value="UTC",
                    placeholder="Europe/Paris",
                    error=errors.get("timezone", ""),
                ),
                select_input(
                    "Version",
                    "agent_version",
                    AgentRunState.version_choices,
                    form_id="schedule",
                    error=errors.get("agent_version", ""),
                ),
                columns=rx.breakpoints(initial="1", md="3"),
                spacing="3",
                width="100%",
            ),
            text_input(
                "Input for each run",
                "input",
                form_id="schedule",
                error=errors.get("input", ""),
                placeholder="Summarise yesterday's support tickets",
            ),
            rx.button(rx.icon("calendar-plus", size=16), "Add schedule", type="submit"),
            spacing="3",
            width="100%",
            align="start",
        ),
        on_submit=AgentRunState.add_schedule,
        reset_on_submit=False,
        key=AgentRunState.schedule_form_key,
        width="100%",
    )
    return rx.card(
        rx.vstack(
            rx.heading("Schedules", size="4", as_="h2"),
            rx.cond(
                AgentRunState.schedules.length() > 0,
                data_table(
                    ["When", "Input", "Next runs", ""], AgentRunState.schedules, _schedule_row, size="1"
                ),
                rx.text("This agent runs only when someone starts it.", size="2", color_scheme="gray"),
            ),
            rx.cond(AgentRunState.can_schedule, add_form),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
