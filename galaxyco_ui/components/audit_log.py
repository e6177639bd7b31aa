"""The audit log screen's parts (/settings/audit): filters, the events table, paging, export."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import download_csv_button, field
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.audit import AuditActionGroup, AuditEventView
from galaxyco_ui.states.audit_log import PERIODS, AuditLogState

S = AuditLogState
COLUMNS = ["When", "Who", "Action", "What happened"]


def _who(e: ObjectVar[AuditEventView]) -> rx.Component:
    return rx.vstack(
        rx.text(e.actor_name, size="2"),
        rx.cond(
            e.api_key_name != "",
            rx.text("via API key “", e.api_key_name, "”", size="1", color_scheme="gray"),
        ),
        spacing="0",
    )


def _cells(e: ObjectVar[AuditEventView]) -> list[rx.Component]:
    return [
        rx.table.cell(rx.moment(e.created_at, format="YYYY-MM-DD HH:mm:ss", size="2")),
        rx.table.cell(_who(e)),
        rx.table.cell(rx.code(e.action, variant="ghost", size="1")),
        rx.table.cell(rx.text(e.summary, size="2")),
    ]


def _row(e: ObjectVar[AuditEventView]) -> rx.Component:
    return rx.table.row(*_cells(e))


def _row_with_ip(e: ObjectVar[AuditEventView]) -> rx.Component:
    return rx.table.row(*_cells(e), rx.table.cell(rx.code(e.ip, variant="ghost", size="1")))


def _error(name: str) -> rx.Var:
    return S.errors.get(name, "").to(str)  # type: ignore[attr-defined]  # dict var: mypy cannot read it


def _select(label: str, name: str, *children: rx.Component, value: rx.Var) -> rx.Component:
    field_id = f"audit-{name}"
    return field(
        label,
        rx.el.select(
            *children,
            id=field_id,
            name=name,
            default_value=value,
            class_name="gx-select",
            aria_describedby=f"{field_id}-error",
        ),
        field_id=field_id,
        error=_error(name),
    )


def _action_group(group: ObjectVar[AuditActionGroup]) -> rx.Component:
    return rx.el.optgroup(
        rx.el.option("Every " + group.prefix.to(str) + " event", value=group.prefix.to(str) + ".*"),
        rx.foreach(group.actions, lambda a: rx.el.option(a, value=a)),
        label=group.prefix,
    )


def _date(label: str, name: str, value: rx.Var) -> rx.Component:
    field_id = f"audit-{name}"
    return field(
        label,
        rx.input(
            type="date", id=field_id, name=name, default_value=value, aria_describedby=f"{field_id}-error"
        ),
        field_id=field_id,
        error=_error(name),
    )


def audit_filters() -> rx.Component:
    return rx.form(
        rx.grid(
            _select(
                "Who",
                "actor",
                rx.el.option("Anyone", value=""),
                rx.foreach(S.actor_options, lambda o: rx.el.option(o[1], value=o[0])),
                value=S.actor,
            ),
            _select(
                "Action",
                "action",
                rx.el.option("Any action", value=""),
                rx.foreach(S.action_groups, _action_group),
                value=S.action,
            ),
            _select(
                "Period",
                "period",
                *[rx.el.option(label, value=value) for value, (label, _) in PERIODS.items()],
                value=S.period,
            ),
            _date("From", "since", S.since),
            _date("To", "until", S.until),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Apply filters", type="submit", size="2"),
            rx.button(
                "Clear filters",
                type="reset",
                variant="soft",
                color_scheme="gray",
                size="2",
                on_click=S.clear_filters,
            ),
            rx.spacer(),
            download_csv_button(S.download_csv, aria_label="Download the filtered events as CSV"),
            spacing="2",
            margin_top="0.75em",
            width="100%",
        ),
        on_submit=S.apply_filters,
        reset_on_submit=False,
        key=S.form_key,
        width="100%",
    )


def audit_events() -> rx.Component:
    table = rx.cond(
        S.owner_view,
        data_table([*COLUMNS, "IP address"], S.events, _row_with_ip, variant="surface", size="1"),
        data_table(COLUMNS, S.events, _row, variant="surface", size="1"),
    )
    return rx.vstack(
        rx.cond(
            S.export_note != "",
            rx.callout(S.export_note, icon="info", color_scheme="amber", size="1", width="100%"),
        ),
        rx.cond(
            S.events.length() > 0,
            table,
            empty_state(
                "scroll-text",
                "No events",
                "Nothing in the log matches these filters. Clear them or choose a longer period.",
            ),
        ),
        rx.hstack(
            rx.button(
                "Newer events",
                variant="soft",
                on_click=S.newer,
                disabled=~S.has_newer,
            ),
            rx.button(
                "Older events",
                variant="soft",
                on_click=S.older,
                disabled=S.next_cursor == "",
            ),
            justify="end",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def audit_refused() -> rx.Component:
    return rx.callout(
        "Only admins and owners can read the audit log.",
        icon="lock",
        color_scheme="gray",
        width="100%",
    )


def audit_log_link() -> rx.Component:
    """The Audit log card of /settings (admins and owners): a way to the log's own page."""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.heading("Audit log", size="4", as_="h2"),
                rx.text(
                    "Every membership, settings, agent and key change in this workspace, and every "
                    "sign-in: filter it, page through it, download it as CSV.",
                    size="2",
                    color_scheme="gray",
                ),
                spacing="1",
            ),
            rx.link(rx.button("Open the audit log", variant="soft", tab_index=-1), href="/settings/audit"),
            justify="between",
            align="center",
            spacing="4",
            width="100%",
        ),
        width="100%",
    )
