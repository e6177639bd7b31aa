"""The "Run this agent" panel of an agent's page: start a run, and its recent runs."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import form_error, text_area
from galaxyco_ui.components.runs import status_badge, trigger_badge
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.states.agent_run import AgentRunState


def run_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Run this agent", size="4", as_="h2"),
            rx.cond(
                AgentRunState.can_run,
                rx.form(
                    rx.vstack(
                        text_area(
                            "Input",
                            "input",
                            form_id="run",
                            rows="3",
                            required=True,
                            placeholder="What should the agent do?",
                        ),
                        form_error(AgentRunState.run_error),
                        rx.button(
                            rx.icon("play", size=16),
                            "Run",
                            type="submit",
                            size="3",
                            loading=AgentRunState.starting,
                        ),
                        spacing="3",
                        width="100%",
                        align="start",
                    ),
                    on_submit=AgentRunState.run,
                    reset_on_submit=False,
                    width="100%",
                ),
                rx.text("Viewers can read runs but not start them.", size="2", color_scheme="gray"),
            ),
            _recent_runs(),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _recent_row(run: ObjectVar[RunView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.moment(run.created_at, from_now=True), href="/runs/" + run.id.to(str))),
        rx.table.cell(status_badge(run.status)),
        rx.table.cell(trigger_badge(run.trigger)),
        rx.table.cell(rx.text(run.started_by, size="2")),
    )


def _recent_runs() -> rx.Component:
    return rx.cond(
        AgentRunState.recent.length() > 0,
        rx.vstack(
            rx.text("Recent runs", size="2", weight="medium"),
            data_table(
                ["When", "Status", "Trigger", "Started by"], AgentRunState.recent, _recent_row, size="1"
            ),
            width="100%",
            spacing="2",
        ),
    )
