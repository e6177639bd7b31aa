"""Tool calls waiting for a person: the decision card (a run's page and the inbox), the
inbox list, the sidebar's count and the agent form's "Ask before running" section.

A call's tool name and arguments come from the model: hostile text, shown only as plain
text (arguments as indented JSON in a ``pre``), never as Markdown or HTML.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.forms import text_input
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.services.approvals import HTTP_WRITE, MAX_NOTE_CHARS, ApprovalView
from galaxyco_ui.states.agents import ASK_FIELD, AgentEditorState
from galaxyco_ui.states.approvals import ApprovalsState
from galaxyco_ui.states.run_detail import RunState


def decision_card(
    approval_id: Any,  # Vars of the card's approval (str vars, typed as plain str on states)
    tool: Any,
    arguments_json: Any,
    *,
    can_decide: rx.Var | bool,
    heading: rx.Component | None = None,
) -> rx.Component:
    """The exact call (tool, arguments) with a note field and Approve / Deny."""
    note_id = "approval-note-" + approval_id.to(str)
    busy = ApprovalsState.deciding == approval_id
    return rx.card(
        rx.vstack(
            heading if heading is not None else rx.fragment(),
            rx.hstack(
                rx.icon("shield-question", size=18, aria_hidden="true"),
                rx.text("The agent asks to run ", rx.code(tool), size="3", weight="medium"),
                align="center",
                spacing="2",
            ),
            rx.text("Arguments", size="1", color_scheme="gray"),
            rx.el.pre(arguments_json, class_name="gx-pre", aria_label="Arguments of the call"),
            rx.cond(
                can_decide,
                rx.vstack(
                    rx.el.label("Note for the agent (optional)", html_for=note_id, class_name="gx-label"),
                    rx.text_area(
                        id=note_id,
                        value=ApprovalsState.notes.get(approval_id, ""),
                        on_change=lambda value: ApprovalsState.set_note(approval_id, value),  # type: ignore[operator]  # rx.event handler: untyped to mypy
                        max_length=MAX_NOTE_CHARS,
                        placeholder="The model reads it with your decision.",
                        width="100%",
                    ),
                    rx.hstack(
                        rx.button(
                            rx.icon("check", size=16, aria_hidden="true"),
                            "Approve",
                            on_click=ApprovalsState.decide(approval_id, "approve"),
                            loading=busy,
                            aria_label="Approve this call of " + tool.to(str),
                            color_scheme="green",
                        ),
                        rx.button(
                            rx.icon("x", size=16, aria_hidden="true"),
                            "Deny",
                            on_click=ApprovalsState.decide(approval_id, "deny"),
                            loading=busy,
                            aria_label="Deny this call of " + tool.to(str),
                            color_scheme="red",
                            variant="soft",
                        ),
                        spacing="3",
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.text("A member who may run agents approves or denies it.", size="2", color_scheme="gray"),
            ),
            spacing="2",
            width="100%",
        ),
        class_name="gx-approval-card",
        role="region",
        aria_label="Tool call waiting for approval",
        width="100%",
    )


def run_approval_card() -> rx.Component:
    """On a run's page, while it waits: shown and hidden live by the run's status events."""
    return rx.cond(
        (RunState.status == "waiting_approval") & (RunState.approval_id != ""),
        decision_card(
            RunState.approval_id,
            RunState.approval_tool,
            RunState.approval_arguments,
            can_decide=RunState.can_retry,  # may run agents
        ),
    )


def _inbox_item(item: ObjectVar[ApprovalView]) -> rx.Component:
    heading = rx.hstack(
        rx.link(item.agent_name, href="/runs/" + item.run_id.to(str), weight="bold"),
        rx.spacer(),
        rx.text("Waiting since ", rx.moment(item.created_at, from_now=True), size="1", color_scheme="gray"),
        width="100%",
        align="center",
    )
    return decision_card(
        item.id, item.tool_name, item.arguments_json, can_decide=ApprovalsState.can_decide, heading=heading
    )


def approvals_inbox() -> rx.Component:
    return rx.cond(
        ApprovalsState.loaded & (ApprovalsState.items.length() == 0),
        empty_state(
            "shield-check",
            "Nothing waits for approval",
            "When an agent calls a tool marked “Ask before running”, the call waits here.",
        ),
        rx.vstack(
            rx.foreach(ApprovalsState.items, _inbox_item),
            rx.cond(
                ApprovalsState.next_cursor != "",
                rx.button(
                    "Show older", on_click=ApprovalsState.older, variant="soft", aria_label="Show older calls"
                ),
            ),
            spacing="3",
            width="100%",
        ),
    )


def nav_count() -> rx.Component:
    """The sidebar's count of waiting calls (loaded with each page)."""
    return rx.cond(
        ApprovalsState.count > 0,
        rx.badge(
            ApprovalsState.count_label,
            color_scheme="orange",
            aria_label=ApprovalsState.count_label + " waiting for approval",
        ),
    )


# ---------------------------------------------------------------- the agent form


def _ask_switch(choice: Any, index: Any) -> rx.Component:  # an [entry, label] array var
    entry = choice[0].to(str)
    field_id = "ask-" + index.to_string()
    # Named "Ask before running" and described by the tool's name beside it: a label holding
    # the tool's name would also answer to that name, which names the tool's own checkbox.
    return rx.hstack(
        rx.switch(
            name=ASK_FIELD + entry,
            id=field_id,
            default_checked=AgentEditorState.approval_tools.contains(entry),
            disabled=~AgentEditorState.can_edit,
            aria_label="Ask before running",
            aria_describedby=field_id + "-tool",
        ),
        rx.text("Ask before running ", rx.code(choice[1].to(str), id=field_id + "-tool"), size="2"),
        align="center",
        spacing="2",
        class_name="gx-ask",
        custom_attrs={"data-entry": entry},
    )


def agent_approvals_field() -> rx.Component:
    """Per tool: whether its calls wait for a person, and how long they wait."""
    err = AgentEditorState.errors.get("approval_tools", "")
    return rx.el.fieldset(
        rx.el.legend("Approvals", class_name="gx-label"),
        rx.text(
            "A call of a tool marked here waits until a member approves or denies it (on the run's "
            "page or in Approvals). It applies while the tool is enabled above.",
            size="1",
            color_scheme="gray",
        ),
        rx.vstack(
            rx.foreach(AgentEditorState.approval_choices, _ask_switch),
            rx.el.label(
                rx.switch(
                    name=ASK_FIELD + HTTP_WRITE,
                    id="ask-http-write",
                    default_checked=AgentEditorState.approval_tools.contains(HTTP_WRITE),
                    disabled=~AgentEditorState.can_edit,
                    aria_label="Ask for http_request POST/PUT/PATCH/DELETE only",
                ),
                rx.text("Ask for ", rx.code("http_request"), " POST/PUT/PATCH/DELETE only", size="2"),
                html_for="ask-http-write",
                class_name="gx-check",
            ),
            spacing="2",
        ),
        rx.cond(err != "", rx.text(err, color_scheme="red", size="2", role="alert")),
        rx.box(
            text_input(
                "Approval timeout (minutes)",
                "approval_minutes",
                form_id="agent",
                type="number",
                min="1",
                max="10080",
                default_value=AgentEditorState.form["approval_minutes"],
                error=AgentEditorState.errors.get("approval_minutes", ""),
                hint="After this, a call nobody decided is denied as timed out.",
                read_only=~AgentEditorState.can_edit,
            ),
            max_width="20em",
        ),
        class_name="gx-fieldset",
    )
