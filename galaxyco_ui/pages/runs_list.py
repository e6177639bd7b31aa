"""/runs: the live monitor of what runs now, and the run history with filters."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import field
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.runs import TRIGGER_LABELS, status_badge, trigger_badge
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.components.worker_banner import no_worker_banner
from galaxyco_ui.services.runs import STATUS_LABELS, RunView
from galaxyco_ui.states.runs_list import RunsState

STATUSES = [("", "Any status"), *STATUS_LABELS.items()]
TRIGGERS = [("", "Any trigger"), *TRIGGER_LABELS]


def _duration(run: ObjectVar[RunView]) -> rx.Component:
    return rx.cond(
        run.duration_ms,
        rx.text((run.duration_ms.to(int) / 1000).to_string() + " s", size="2"),
        rx.text("—", size="2"),
    )


def _run_row(run: ObjectVar[RunView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.link(run.agent_name, href="/runs/" + run.id.to(str), weight="medium")),
        rx.table.cell(status_badge(run.status)),
        rx.table.cell(trigger_badge(run.trigger)),
        rx.table.cell(rx.text(run.started_by, size="2")),
        rx.table.cell(rx.moment(run.created_at, from_now=True, size="2")),
        rx.table.cell(_duration(run)),
        rx.table.cell(rx.text(run.input_tokens.to(int) + run.output_tokens.to(int), size="2")),
        rx.table.cell(
            rx.cond(
                run.cost_usd.is_not_none(),
                rx.text("$", run.cost_usd, size="2"),
                rx.text(rx.cond(run.status == "succeeded", "unknown", "—"), size="2"),
            )
        ),
        align="center",
    )


def _active_row(run: ObjectVar[RunView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.link(run.agent_name, href="/runs/" + run.id.to(str), weight="medium")),
        rx.table.cell(status_badge(run.status)),
        rx.table.cell(rx.text(run.started_by, size="2")),
        rx.table.cell(rx.moment(run.created_at, from_now=True, size="2")),
    )


def _select(label: str, name: str, options: list[tuple[str, str]] | rx.Var, value: rx.Var) -> rx.Component:
    if isinstance(options, list):
        children = [rx.el.option(text, value=v) for v, text in options]
    else:
        children = [
            rx.el.option("Anyone" if name == "member" else "Any agent", value=""),
            rx.foreach(options, lambda o: rx.el.option(o[1], value=o[0])),
        ]
    return field(
        label,
        rx.el.select(*children, id=f"runs-{name}", name=name, default_value=value, class_name="gx-select"),
        field_id=f"runs-{name}",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            _select("Status", "status", STATUSES, RunsState.status),
            _select("Agent", "agent_id", RunsState.agent_options, RunsState.agent_id),
            _select("Trigger", "trigger", TRIGGERS, RunsState.trigger),
            _select("Started by", "member", RunsState.member_options, RunsState.member),
            field(
                "From",
                rx.input(type="date", id="runs-since", name="since", default_value=RunsState.since),
                field_id="runs-since",
            ),
            field(
                "To",
                rx.input(type="date", id="runs-until", name="until", default_value=RunsState.until),
                field_id="runs-until",
            ),
            columns=rx.breakpoints(initial="2", md="6"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Apply filters", type="submit", size="2"),
            rx.button(
                "Clear",
                type="reset",
                variant="soft",
                color_scheme="gray",
                size="2",
                on_click=RunsState.clear_filters,
            ),
            spacing="2",
            margin_top="0.75em",
        ),
        on_submit=RunsState.apply_filters,
        reset_on_submit=False,
        width="100%",
    )


def runs_page() -> rx.Component:
    active = rx.card(
        rx.vstack(
            rx.heading("Running now", size="4", as_="h2"),
            rx.cond(
                RunsState.active.length() > 0,
                data_table(
                    ["Agent", "Status", "Started by", "Queued"], RunsState.active, _active_row, size="1"
                ),
                rx.text("Nothing is running in this workspace right now.", size="2", color_scheme="gray"),
            ),
            width="100%",
            spacing="3",
        ),
        width="100%",
    )
    history = rx.vstack(
        rx.heading("History", size="4", as_="h2"),
        _filters(),
        rx.cond(
            RunsState.runs.length() > 0,
            data_table(
                ["Agent", "Status", "Trigger", "Started by", "When", "Duration", "Tokens", "Cost"],
                RunsState.runs,
                _run_row,
                variant="surface",
            ),
            empty_state(
                "history",
                "No runs yet",
                "Runs appear here when someone runs an agent by hand, on a schedule, through the API "
                "or a trigger URL.",
            ),
        ),
        rx.hstack(
            rx.button(
                "Newer",
                variant="soft",
                on_click=RunsState.newer,
                disabled=RunsState.page_cursors.length() == 0,
            ),
            rx.button(
                "Older", variant="soft", on_click=RunsState.older, disabled=RunsState.next_cursor == ""
            ),
            justify="end",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )
    return shell("Runs", no_worker_banner(), active, history)
