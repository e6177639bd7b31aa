"""The Limits card of /settings (owners and admins): monthly budgets and the run limits."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import field, limit_input, text_input
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.budgets import BudgetView
from galaxyco_ui.states.limits import LimitsState

USD_HINT = "US dollars of priced models' usage. Leave empty for no cap."
TOKENS_HINT = "Tokens of models without a known price (their cost is unknown). Leave empty for no cap."


def _meter(text: Any, percent: Any, label: Any) -> rx.Component:
    """'$3.00 of $10.00 this month' over a bar (hidden when there is no such cap)."""
    return rx.cond(
        text != "",
        rx.vstack(
            rx.text(text, size="2"),
            rx.progress(
                value=percent,
                max=100,
                color_scheme=rx.cond(percent >= 100, "red", rx.cond(percent >= 80, "amber", "green")),
                aria_label=label,
                width="100%",
                max_width="320px",
            ),
            spacing="1",
            width="100%",
        ),
    )


def _spent(b: ObjectVar[BudgetView]) -> rx.Component:
    name = b.subject_name.to(str)
    return rx.vstack(
        _meter(b.usd_text.to(str), b.usd_percent.to(int), "Dollars spent of the budget of " + name),
        _meter(b.tokens_text.to(str), b.tokens_percent.to(int), "Tokens used of the token budget of " + name),
        spacing="2",
        width="100%",
    )


def _row(b: ObjectVar[BudgetView], remove: Any, what: str) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(b.subject_name, size="2", weight="medium")),
        rx.table.cell(_spent(b)),
        rx.table.cell(
            rx.button(
                "Remove",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=remove,
                aria_label=f"Remove the budget of {what} " + b.subject_name.to(str),
            )
        ),
    )


# name, label, input mode, placeholder, hint
_AMOUNTS = (
    ("monthly_usd", "Monthly budget (USD)", "decimal", "e.g. 50", USD_HINT),
    ("monthly_tokens", "Monthly tokens (models without a price)", "numeric", "e.g. 1000000", TOKENS_HINT),
)


def _amount_fields(form_id: str, errors: Any, **defaults: Any) -> list[rx.Component]:
    """The dollar and token inputs; ``defaults`` maps a name to the value shown (add forms: none)."""
    return [
        rx.box(
            text_input(
                label,
                name,
                form_id=form_id,
                inputmode=mode,
                placeholder=placeholder,
                error=errors.get(name, ""),
                hint=hint,
                **({"default_value": defaults[name]} if name in defaults else {}),
            ),
            flex="1",
            min_width="200px",
        )
        for name, label, mode, placeholder, hint in _AMOUNTS
    ]


def _form_row(*fields: rx.Component, label: str, aria_label: str, on_submit: Any) -> rx.Component:
    """Fields side by side (wrapping) and their submit button, in one form."""
    return rx.form(
        rx.flex(
            *fields,
            rx.button(label, type="submit", size="3", margin_top="1.6em", aria_label=aria_label),
            spacing="3",
            align="start",
            wrap="wrap",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=False,
        key=LimitsState.form_key,
        width="100%",
    )


def _workspace_budget() -> rx.Component:
    s = LimitsState
    workspace = cast(ObjectVar[BudgetView], s.workspace)
    return rx.vstack(
        rx.heading("Workspace budget", size="3", as_="h3"),
        _spent(workspace),
        _form_row(
            *_amount_fields(
                "limits-workspace",
                s.workspace_errors,
                monthly_usd=rx.cond(workspace.monthly_usd, workspace.monthly_usd.to(str), ""),
                monthly_tokens=rx.cond(workspace.monthly_tokens, workspace.monthly_tokens.to_string(), ""),
            ),
            label="Save",
            aria_label="Save workspace budget",
            on_submit=s.save_workspace_budget,
        ),
        spacing="2",
        width="100%",
    )


def _add_form(what: str, name: str, options: Any, errors: Any, on_submit: Any, form_id: str) -> rx.Component:
    field_id = f"{form_id}-{name}"
    chooser = field(
        what.capitalize(),
        rx.el.select(
            rx.el.option(f"Choose {'an' if what == 'agent' else 'a'} {what}", value=""),
            rx.foreach(options, lambda o: rx.el.option(o[1], value=o[0])),
            id=field_id,
            name=name,
            class_name="gx-select",
            aria_describedby=f"{field_id}-error",
        ),
        field_id=field_id,
        error=errors.get("subject_id", ""),
    )
    return _form_row(
        rx.box(chooser, flex="1", min_width="180px"),
        *_amount_fields(form_id, errors),
        label="Add",
        aria_label=f"Add {what} budget",
        on_submit=on_submit,
    )


def _budget_list(title: str, what: str, items: Any, remove: Any, add: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="3", as_="h3"),
        rx.cond(
            items.length() > 0,
            data_table(
                [what.capitalize(), "Spent this month", ""],
                items,
                lambda b: _row(b, remove(b.subject_id), what),
                size="1",
            ),
            rx.text(f"No {what} budgets.", size="2", color_scheme="gray"),
        ),
        add,
        spacing="2",
        width="100%",
    )


def _run_limits() -> rx.Component:
    s = LimitsState
    return rx.vstack(
        rx.heading("Run limits", size="3", as_="h3"),
        _form_row(
            limit_input(
                "Runs at once",
                "max_concurrent_runs",
                form_id="limits-runs",
                value=s.max_concurrent_runs,
                operator_max=s.operator_max_concurrent_runs,
                error=s.run_errors.get("max_concurrent_runs", ""),
            ),
            limit_input(
                "Run starts per minute",
                "run_starts_per_minute",
                form_id="limits-runs",
                value=s.run_starts_per_minute,
                operator_max=s.operator_max_run_starts_per_minute,
                error=s.run_errors.get("run_starts_per_minute", ""),
            ),
            label="Save",
            aria_label="Save run limits",
            on_submit=s.save_run_limits,
        ),
        spacing="2",
        width="100%",
    )


def limits_card() -> rx.Component:
    s = LimitsState
    return rx.card(
        rx.vstack(
            rx.heading("Limits", size="4", as_="h2"),
            rx.text(
                "Monthly budgets refuse new runs once they are used up and stop running ones after "
                "the model turn that reaches them. Owners and admins are notified at 80 % and 100 %. "
                "Budgets count UTC calendar months: they reset on ",
                rx.text.strong(s.resets_on, id="limits-resets-on"),
                ".",
                size="2",
                color_scheme="gray",
            ),
            _workspace_budget(),
            _budget_list(
                "Agent budgets",
                "agent",
                s.agents,
                LimitsState.remove_agent_budget,
                _add_form(
                    "agent", "agent_id", s.agent_options, s.agent_errors, s.add_agent_budget, "limits-agent"
                ),
            ),
            _budget_list(
                "Member budgets",
                "member",
                s.members,
                LimitsState.remove_member_budget,
                _add_form(
                    "member",
                    "user_id",
                    s.member_options,
                    s.member_errors,
                    s.add_member_budget,
                    "limits-member",
                ),
            ),
            _run_limits(),
            spacing="4",
            width="100%",
        ),
        id="limits",
        width="100%",
    )
