"""/agents (list), /agents/new and /agents/[agent_id] (the editor)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from galaxyco_ui.components.agent_history import history_panel
from galaxyco_ui.components.agent_hook import agent_hook_panel
from galaxyco_ui.components.approvals import agent_approvals_field
from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import field, select_input, text_area, text_input
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.mcp_servers import agent_mcp_tools_field
from galaxyco_ui.components.run_panel import run_panel
from galaxyco_ui.components.schedules import schedules_panel
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.components.usage import agent_month_usage
from galaxyco_ui.providers.catalog import PROVIDERS
from galaxyco_ui.services.agents import AgentView
from galaxyco_ui.states.agent_history import AgentHistoryState
from galaxyco_ui.states.agents import AgentEditorState, AgentsState
from galaxyco_ui.states.session import SessionState
from galaxyco_ui.tools.catalog import SELECTABLE_TOOLS

SORTS = [("updated", "Recently updated"), ("name", "Name"), ("created", "Newest")]


def _new_button() -> rx.Component:
    return rx.cond(
        SessionState.can_create_agents,
        rx.link(rx.button(rx.icon("plus", size=16), "New agent", size="3", tab_index=-1), href="/agents/new"),
    )


def _agent_row(agent: ObjectVar[AgentView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.link(agent.name, href="/agents/" + agent.id.to(str), weight="medium"),
                rx.text(agent.description, size="1", color_scheme="gray", class_name="gx-clamp"),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(agent.provider_label, " · ", agent.model, size="2")),
        rx.table.cell(
            rx.hstack(rx.foreach(agent.tags, lambda t: rx.badge(t, variant="soft")), wrap="wrap", spacing="1")
        ),
        rx.table.cell(rx.text(agent.created_by_name, size="2")),
        rx.table.cell(rx.moment(agent.updated_at, from_now=True, size="2")),
        align="center",
    )


def agents_page() -> rx.Component:
    toolbar = rx.hstack(
        rx.box(
            rx.el.label("Search agents", html_for="agent-search", class_name="gx-sr-only"),
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                id="agent-search",
                placeholder="Search by name, description, model or tag",
                value=AgentsState.search,
                on_change=AgentsState.set_search.debounce(250),  # type: ignore[attr-defined]  # rx.event handler: untyped to mypy
                width="100%",
                size="3",
            ),
            flex="1",
            min_width="240px",
        ),
        rx.hstack(
            rx.el.label("Sort by", html_for="agent-sort", class_name="gx-label"),
            rx.el.select(
                *[rx.el.option(label, value=value) for value, label in SORTS],
                id="agent-sort",
                value=AgentsState.sort,
                on_change=AgentsState.set_sort,
                class_name="gx-select",
            ),
            align="center",
            spacing="2",
        ),
        width="100%",
        spacing="3",
        wrap="wrap",
    )
    table = data_table(
        ["Name", "Model", "Tags", "Created by", "Updated"], AgentsState.agents, _agent_row, variant="surface"
    )
    empty = rx.cond(
        AgentsState.search != "",
        empty_state(
            "search-x", "No agents match", "Try another word, or clear the search to see every agent."
        ),
        empty_state(
            "bot",
            "No agents yet",
            "An agent is an AI assistant with a model, instructions, tools and limits. "
            "Create one, then run it by hand, on a schedule or through the API.",
            _new_button(),
        ),
    )
    return shell(
        "Agents",
        toolbar,
        rx.cond(
            AgentsState.loaded,
            rx.cond(AgentsState.agents.length() > 0, table, empty),
            rx.center(rx.spinner(), width="100%"),
        ),
        actions=_new_button(),
    )


# ---------------------------------------------------------------- editor


def _err(name: str) -> rx.Var:
    # A dict var: mypy resolves reflex's typed rx.Field[dict] to an array var, so this one
    # stays a plain annotation, which mypy reads as the dict it holds at runtime.
    return AgentEditorState.errors.get(name, "")  # type: ignore[return-value]  # an ObjectVar here


def _tools_field() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Tools", class_name="gx-label"),
        rx.vstack(
            *[
                rx.el.label(
                    rx.el.input(
                        type="checkbox",
                        name=f"tool_{tool.name}",
                        id=f"tool-{tool.name}",
                        default_checked=AgentEditorState.tools.contains(tool.name),
                        disabled=~AgentEditorState.can_edit,
                    ),
                    rx.vstack(
                        rx.text(tool.label, size="2", weight="medium"),
                        rx.text(tool.description, size="1", color_scheme="gray"),
                        spacing="0",
                    ),
                    html_for=f"tool-{tool.name}",
                    class_name="gx-check",
                )
                for tool in SELECTABLE_TOOLS
            ],
            spacing="2",
        ),
        rx.cond(_err("tools") != "", rx.text(_err("tools"), color_scheme="red", size="2", role="alert")),
        class_name="gx-fieldset",
    )


def _knowledge_option(collection: ArrayVar) -> rx.Component:
    cid = collection[0].to(str)
    return rx.el.label(
        rx.el.input(
            type="checkbox",
            name="kc_" + cid,
            id="kc-" + cid,
            default_checked=AgentEditorState.knowledge_ids.contains(cid),
            disabled=~AgentEditorState.can_edit,
        ),
        rx.text(collection[1], size="2", weight="medium"),
        html_for="kc-" + cid,
        class_name="gx-check",
    )


def _knowledge_field() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Knowledge", class_name="gx-label"),
        rx.vstack(
            rx.text(
                "The agent searches the chosen collections with the Knowledge search tool and cites "
                "the passages it uses.",
                size="1",
                color_scheme="gray",
            ),
            rx.cond(
                AgentEditorState.collections.length() > 0,
                rx.vstack(rx.foreach(AgentEditorState.collections, _knowledge_option), spacing="2"),
                rx.text(
                    "No collections yet. ",
                    rx.link("Create one in Knowledge", href="/knowledge"),
                    " and upload documents first.",
                    size="2",
                ),
            ),
            rx.cond(
                _err("knowledge_collection_ids") != "",
                rx.text(_err("knowledge_collection_ids"), color_scheme="red", size="2", role="alert"),
            ),
            spacing="2",
        ),
        class_name="gx-fieldset",
    )


def _agent_form() -> rx.Component:
    f = AgentEditorState.form
    read_only = ~AgentEditorState.can_edit
    return rx.form(
        rx.vstack(
            rx.grid(
                text_input(
                    "Name",
                    "name",
                    form_id="agent",
                    default_value=f["name"],
                    error=_err("name"),
                    required=True,
                    max_length=80,
                    read_only=read_only,
                ),
                text_input(
                    "Tags",
                    "tags",
                    form_id="agent",
                    default_value=f["tags"],
                    error=_err("tags"),
                    hint="Comma-separated, e.g. support, billing",
                    read_only=read_only,
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            text_input(
                "Description",
                "description",
                form_id="agent",
                default_value=f["description"],
                error=_err("description"),
                max_length=500,
                read_only=read_only,
            ),
            rx.grid(
                select_input(
                    "Provider",
                    "provider",
                    [(p.key, p.label) for p in PROVIDERS],
                    form_id="agent",
                    default_value=f["provider"],
                    error=_err("provider"),
                    disabled=read_only,
                ),
                field(
                    "Model",
                    rx.fragment(
                        rx.input(
                            id="agent-model",
                            name="model",
                            default_value=f["model"],
                            list="model-suggestions",
                            required=True,
                            max_length=120,
                            read_only=read_only,
                            size="3",
                            width="100%",
                            aria_describedby="agent-model-error",
                        ),
                        rx.el.datalist(
                            *[rx.el.option(value=m) for p in PROVIDERS for m in p.suggested_models],
                            id="model-suggestions",
                        ),
                    ),
                    field_id="agent-model",
                    error=_err("model"),
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            text_area(
                "Instructions",
                "instructions",
                form_id="agent",
                default_value=f["instructions"],
                error=_err("instructions"),
                rows="8",
                read_only=read_only,
                hint="What the agent should do and how it should answer (the system prompt).",
            ),
            rx.grid(
                text_input(
                    "Temperature",
                    "temperature",
                    form_id="agent",
                    type="number",
                    step="0.1",
                    min="0",
                    max="2",
                    default_value=f["temperature"],
                    error=_err("temperature"),
                    hint="0 = focused, 2 = creative",
                    read_only=read_only,
                ),
                text_input(
                    "Max steps",
                    "max_steps",
                    form_id="agent",
                    type="number",
                    min="1",
                    max="50",
                    default_value=f["max_steps"],
                    error=_err("max_steps"),
                    hint="Model turns per run, tool calls included",
                    read_only=read_only,
                ),
                text_input(
                    "Max output tokens",
                    "max_output_tokens",
                    form_id="agent",
                    type="number",
                    min="16",
                    max="32000",
                    default_value=f["max_output_tokens"],
                    error=_err("max_output_tokens"),
                    hint="Per model turn",
                    read_only=read_only,
                ),
                columns=rx.breakpoints(initial="1", md="3"),
                spacing="4",
                width="100%",
            ),
            _tools_field(),
            agent_mcp_tools_field(),
            agent_approvals_field(),
            _knowledge_field(),
            rx.cond(
                AgentEditorState.can_edit,
                rx.hstack(
                    rx.link(
                        rx.button("Cancel", variant="soft", color_scheme="gray", type="button", tab_index=-1),
                        href="/agents",
                    ),
                    rx.button(
                        rx.cond(AgentEditorState.is_new, "Create agent", "Save changes"),
                        type="submit",
                        size="3",
                    ),
                    justify="end",
                    width="100%",
                ),
            ),
            spacing="5",
            width="100%",
        ),
        on_submit=AgentEditorState.save,
        reset_on_submit=False,
        key=AgentEditorState.form_key,
        width="100%",
    )


def _delete_dialog() -> rx.Component:
    return confirm_dialog(
        rx.button(rx.icon("trash-2", size=16), "Delete", color_scheme="red", variant="soft"),
        title="Delete this agent?",
        body="“" + AgentEditorState.form["name"] + "” will disappear from the agents list. "
        "Its name becomes available again.",
        confirm_label="Delete agent",
        on_confirm=AgentEditorState.delete,
        cancel_label="Keep it",
    )


def _editor_actions() -> rx.Component:
    return rx.cond(
        AgentEditorState.is_new | AgentEditorState.not_found,
        rx.fragment(),
        rx.hstack(
            rx.cond(
                SessionState.can_create_agents,
                rx.button(
                    rx.icon("copy", size=16), "Duplicate", variant="soft", on_click=AgentEditorState.duplicate
                ),
            ),
            rx.cond(AgentEditorState.can_edit, _delete_dialog()),
            spacing="2",
        ),
    )


def _configuration_and_history() -> rx.Component:
    """The form, and for a saved agent a History tab beside it (components/agent_history.py)."""
    form = rx.card(_agent_form(), size="3", width="100%")
    return rx.cond(
        AgentEditorState.is_new,
        form,
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Configuration", value="settings"),
                rx.tabs.trigger("History", value="history"),
            ),
            rx.tabs.content(form, value="settings", padding_top="3"),
            rx.tabs.content(history_panel(), value="history", padding_top="3"),
            value=AgentHistoryState.tab,
            on_change=AgentHistoryState.set_tab,
            width="100%",
        ),
    )


def agent_editor_page() -> rx.Component:
    not_found = empty_state(
        "circle-help",
        "Agent not found",
        "It may have been deleted, or it belongs to another workspace.",
        rx.link(rx.button("Back to agents", tab_index=-1), href="/agents"),
    )
    meta = rx.cond(
        AgentEditorState.is_new,
        rx.fragment(),
        rx.text(
            "Created by ",
            AgentEditorState.created_by_name,
            " · updated ",
            AgentEditorState.updated_label,
            size="2",
            color_scheme="gray",
        ),
    )
    read_only_note = rx.cond(
        ~AgentEditorState.can_edit,
        rx.callout(
            "You can view this agent. Only its creator or a workspace admin can change it.",
            icon="eye",
            color_scheme="gray",
            width="100%",
        ),
    )
    return shell(
        rx.cond(AgentEditorState.not_found, "Agent not found", AgentEditorState.title),
        rx.cond(
            AgentEditorState.not_found,
            not_found,
            rx.vstack(
                rx.link(
                    rx.hstack(
                        rx.icon("arrow-left", size=14), rx.text("All agents", size="2"), align="center"
                    ),
                    href="/agents",
                ),
                meta,
                rx.cond(~AgentEditorState.is_new, agent_month_usage()),
                rx.cond(~AgentEditorState.is_new, run_panel()),
                read_only_note,
                _configuration_and_history(),
                rx.cond(~AgentEditorState.is_new, schedules_panel()),
                rx.cond(~AgentEditorState.is_new, agent_hook_panel()),
                spacing="4",
                width="100%",
            ),
        ),
        actions=_editor_actions(),
    )
