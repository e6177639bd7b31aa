"""The History tab of an agent's page: versions, a side-by-side diff of two, restore.

Everything a version holds is shown as plain text: instructions are what a user typed,
never rendered as Markdown here.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import form_error, select_input
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.agent_versions import AgentVersionSummary, DiffLine, FieldChange
from galaxyco_ui.states.agent_history import AgentHistoryState

_PLAIN = {"white_space": "pre-wrap", "overflow_wrap": "anywhere"}


def _version_row(v: ObjectVar[AgentVersionSummary]) -> rx.Component:
    label = "version " + v.number.to(str)
    return rx.table.row(
        rx.table.row_header_cell(
            rx.hstack(
                rx.text("Version ", v.number.to(str), weight="medium", size="2"),
                rx.cond(v.current, rx.badge("current", color_scheme="green")),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.moment(v.created_at, format="YYYY-MM-DD HH:mm", size="2")),
        rx.table.cell(rx.text(v.created_by_name, size="2")),
        rx.table.cell(rx.text(v.note, size="2", color_scheme="gray")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    ~v.current,
                    rx.button(
                        "Compare with current",
                        size="1",
                        variant="soft",
                        aria_label="Compare " + label + " with the current version",
                        on_click=AgentHistoryState.compare(v.number),
                    ),
                ),
                rx.cond(
                    AgentHistoryState.can_restore & ~v.current,
                    confirm_dialog(
                        rx.button(
                            "Restore this version",
                            size="1",
                            variant="soft",
                            color_scheme="orange",
                            aria_label="Restore " + label,
                        ),
                        title="Restore this version?",
                        body="The agent gets "
                        + label
                        + "'s configuration back as a new version. Every version stays in the history.",
                        confirm_label="Restore this version",
                        on_confirm=AgentHistoryState.restore(v.number),
                        cancel_label="Keep the current one",
                    ),
                ),
                spacing="2",
            )
        ),
        align="center",
    )


def _change_row(c: ObjectVar[FieldChange]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(c.label, size="2", weight="medium"),
                rx.cond(c.changed, rx.badge("changed", color_scheme="amber")),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(c.before, size="2", style=_PLAIN)),
        rx.table.cell(rx.text(c.after, size="2", style=_PLAIN)),
        background_color=rx.cond(c.changed, "var(--amber-3)", "transparent"),
        data_changed=rx.cond(c.changed, "true", "false"),
        align="start",
    )


def _diff_line(line: ObjectVar[DiffLine]) -> rx.Component:
    sign = rx.match(line.kind, ("added", "+ "), ("removed", "- "), "  ")
    return rx.text(
        sign,
        line.text,
        as_="div",
        size="2",
        font_family="var(--code-font-family)",
        style=_PLAIN,
        background_color=rx.match(
            line.kind, ("added", "var(--green-3)"), ("removed", "var(--red-3)"), "transparent"
        ),
        color=rx.match(line.kind, ("added", "var(--green-11)"), ("removed", "var(--red-11)"), "inherit"),
        class_name="gx-diff-line",
        data_kind=line.kind,
    )


def _diff() -> rx.Component:
    pickers = rx.hstack(
        select_input(
            "From",
            "left",
            AgentHistoryState.version_options,
            form_id="history",
            value=AgentHistoryState.left,
            on_change=AgentHistoryState.pick_left,
        ),
        select_input(
            "To",
            "right",
            AgentHistoryState.version_options,
            form_id="history",
            value=AgentHistoryState.right,
            on_change=AgentHistoryState.pick_right,
        ),
        spacing="4",
        wrap="wrap",
    )
    return rx.vstack(
        rx.heading("Compare two versions", size="3", as_="h3"),
        pickers,
        form_error(AgentHistoryState.error),
        rx.cond(
            AgentHistoryState.changes.length() > 0,
            rx.vstack(
                data_table(
                    ["Field", "From", "To"],
                    AgentHistoryState.changes,
                    _change_row,
                    size="1",
                ),
                rx.heading("Instructions, line by line", size="2", as_="h4"),
                rx.box(
                    rx.cond(
                        AgentHistoryState.lines.length() > 0,
                        rx.foreach(AgentHistoryState.lines, _diff_line),
                        rx.text("No instructions in either version.", size="2", color_scheme="gray"),
                    ),
                    aria_label="Instructions diff",
                    width="100%",
                    padding="2",
                    border="1px solid var(--gray-6)",
                    border_radius="var(--radius-2)",
                ),
                spacing="3",
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )


def history_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("History", size="4", as_="h2"),
            rx.text(
                "Every save that changes what a run uses is a version. Runs record theirs; the API and "
                "schedules can pin one (agent@3).",
                size="2",
                color_scheme="gray",
            ),
            data_table(
                ["Version", "Saved", "By", "Note", ""], AgentHistoryState.versions, _version_row, size="1"
            ),
            _diff(),
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
    )
