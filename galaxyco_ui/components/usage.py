"""The usage screen's parts (/usage): filters, figures, charts (rx.recharts) and the table."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from galaxyco_ui.components.forms import download_csv_button, field
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.usage import ROW_KEY_TITLES, UsageRow
from galaxyco_ui.states.usage import AgentUsageState, UsageState

S = UsageState
GREEN, RED, GRAY, BLUE, VIOLET, AMBER = (
    "var(--green-9)",
    "var(--red-9)",
    "var(--gray-8)",
    "var(--blue-9)",
    "var(--violet-9)",
    "var(--amber-9)",
)
TABLE_COLUMNS = [
    *ROW_KEY_TITLES,
    "Runs",
    "Failed",
    "Tokens in/out",
    "Cost",
]


def _error(name: str) -> rx.Var:
    return S.errors.get(name, "").to(str)  # type: ignore[attr-defined]  # dict var: mypy cannot read it


def _select(label: str, name: str, anything: str, options: rx.Var, value: rx.Var) -> rx.Component:
    field_id = f"usage-{name}"
    first = [rx.el.option(anything, value="")] if anything else []
    return field(
        label,
        rx.el.select(
            *first,
            rx.foreach(options, lambda o: rx.el.option(o[1], value=o[0])),
            id=field_id,
            name=name,
            default_value=value,
            class_name="gx-select",
            aria_describedby=f"{field_id}-error",
        ),
        field_id=field_id,
        error=_error(name),
    )


def usage_filters() -> rx.Component:
    return rx.form(
        rx.grid(
            _select("Period", "period", "", S.period_options, S.period),
            _select("Agent", "agent", "Every agent", S.agent_options, S.agent),
            _select("Member", "member", "Everyone", S.member_options, S.member),
            _select("Model", "model", "Every model", S.model_options, S.model),
            _select("Trigger", "trigger", "Any trigger", S.trigger_options, S.trigger),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Apply filters", type="submit", size="2"),
            rx.text(S.window_label, size="2", color_scheme="gray"),
            rx.spacer(),
            download_csv_button(S.download_csv, aria_label="Download the filtered usage table as CSV"),
            spacing="3",
            align="center",
            margin_top="0.75em",
            width="100%",
        ),
        on_submit=S.apply_filters,
        reset_on_submit=False,
        key=S.form_key,
        width="100%",
    )


def _figure(item: ArrayVar) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(item[0], size="1", color_scheme="gray", weight="medium"),
            rx.text(item[1], size="5", weight="bold", class_name="gx-usage-figure"),
            rx.text(item[2], size="1", color_scheme="gray"),
            spacing="1",
        ),
        aria_label=item[0].to(str) + ": " + item[1].to(str),
    )


def usage_figures() -> rx.Component:
    return rx.grid(
        rx.foreach(S.figures, _figure),
        columns=rx.breakpoints(initial="2", md="3", lg="6"),
        spacing="3",
        width="100%",
        id="usage-figures",
    )


def _chart_card(title: str, summary: str, chart: rx.Component, chart_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="3", as_="h2", id=f"{chart_id}-title"),
            rx.text(summary, size="1", color_scheme="gray"),
            rx.box(chart, width="100%", height="240px", role="img", aria_labelledby=f"{chart_id}-title"),
            spacing="2",
            width="100%",
        ),
        id=chart_id,
        width="100%",
    )


def _axes(x_key: str = "day") -> list[rx.Component]:
    return [
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.x_axis(data_key=x_key),
        rx.recharts.y_axis(),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
    ]


def _runs_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        rx.recharts.bar(data_key="succeeded", name="Succeeded", stack_id="status", fill=GREEN),
        rx.recharts.bar(data_key="failed", name="Failed", stack_id="status", fill=RED),
        rx.recharts.bar(data_key="cancelled", name="Cancelled", stack_id="status", fill=GRAY),
        *_axes(),
        data=S.days,
        height=240,
    )


def _tokens_chart() -> rx.Component:
    return rx.recharts.area_chart(
        rx.recharts.area(data_key="input_tokens", name="Input tokens", stack_id="t", stroke=BLUE, fill=BLUE),
        rx.recharts.area(
            data_key="output_tokens", name="Output tokens", stack_id="t", stroke=VIOLET, fill=VIOLET
        ),
        *_axes(),
        data=S.days,
        height=240,
    )


def _cost_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        rx.recharts.bar(data_key="cost_usd", name="Cost (USD)", fill=AMBER),
        *_axes(),
        data=S.days,
        height=240,
    )


def _rate_chart() -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="success_rate", name="Success rate (%)", stroke=GREEN, connect_nulls=True),
        *_axes(),
        data=S.days,
        height=240,
    )


def _duration_chart() -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="p50_ms", name="p50 (ms)", stroke=BLUE, connect_nulls=True),
        rx.recharts.line(data_key="p95_ms", name="p95 (ms)", stroke=RED, connect_nulls=True),
        *_axes(),
        data=S.days,
        height=240,
    )


def _cost_by(data: rx.Var) -> rx.Component:
    return rx.recharts.bar_chart(
        rx.recharts.bar(data_key="cost_usd", name="Cost (USD)", fill=AMBER),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.x_axis(type_="number"),
        rx.recharts.y_axis(data_key="label", type_="category", width=140),
        rx.recharts.graphing_tooltip(),
        data=data,
        layout="vertical",
        height=240,
    )


def usage_charts() -> rx.Component:
    return rx.grid(
        _chart_card("Runs per day", "Finished runs by status.", _runs_chart(), "chart-runs"),
        _chart_card("Tokens per day", "Input and output tokens.", _tokens_chart(), "chart-tokens"),
        _chart_card("Cost per day", "USD, priced models only.", _cost_chart(), "chart-cost"),
        _chart_card("Success rate", "Succeeded runs, percent of finished runs.", _rate_chart(), "chart-rate"),
        _chart_card(
            "Duration", "p50 and p95 in milliseconds (within ±19 %).", _duration_chart(), "chart-duration"
        ),
        _chart_card("Cost by agent", "USD over the period.", _cost_by(S.by_agent), "chart-by-agent"),
        _chart_card("Cost by member", "USD over the period.", _cost_by(S.by_member), "chart-by-member"),
        _chart_card("Cost by model", "USD over the period.", _cost_by(S.by_model), "chart-by-model"),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="3",
        width="100%",
    )


def _row(r: ObjectVar[UsageRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r.day),
        rx.table.cell(rx.text(r.agent, size="2")),
        rx.table.cell(rx.text(r.member, size="2")),
        rx.table.cell(rx.code(r.model, variant="ghost", size="1")),
        rx.table.cell(r.trigger),
        rx.table.cell(r.runs),
        rx.table.cell(r.failed),
        rx.table.cell(r.input_tokens.to_string() + " / " + r.output_tokens.to_string()),
        rx.table.cell("$" + r.cost_usd.to_string()),
    )


def usage_table() -> rx.Component:
    return rx.vstack(
        rx.heading("Details", size="3", as_="h2"),
        rx.cond(S.rows_note != "", rx.text(S.rows_note, size="1", color_scheme="gray")),
        data_table(TABLE_COLUMNS, S.rows, _row, variant="surface", size="1"),
        spacing="2",
        width="100%",
    )


def usage_body() -> rx.Component:
    return rx.vstack(
        rx.text(
            "What this workspace's runs did and cost. A run counts on the UTC day it finished; "
            "runs still queued or running are not counted yet.",
            size="2",
            color_scheme="gray",
        ),
        usage_filters(),
        rx.cond(
            S.has_runs,
            rx.vstack(usage_figures(), usage_charts(), usage_table(), spacing="4", width="100%"),
            empty_state(
                "chart-column",
                "No finished runs",
                "No run matching these filters finished in this period. Choose a longer period or clear a filter.",
            ),
        ),
        spacing="4",
        width="100%",
    )


def agent_month_usage() -> rx.Component:
    """The agent page's line: this month's runs and cost (everyone who can see the agent)."""
    return rx.cond(
        AgentUsageState.month_label != "",
        rx.hstack(
            rx.icon("chart-column", size=14, aria_hidden="true"),
            rx.text(
                AgentUsageState.month_label,
                " so far: ",
                rx.el.span(AgentUsageState.month_runs, id="agent-month-runs"),
                " · ",
                rx.el.span(AgentUsageState.month_cost, id="agent-month-cost"),
                size="2",
                color_scheme="gray",
            ),
            rx.link("Open usage", href="/usage", size="2"),
            align="center",
            spacing="2",
        ),
    )
