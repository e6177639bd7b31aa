"""The agents list (/agents) and the agent editor (/agents/new, /agents/[agent_id])."""

from __future__ import annotations

from typing import cast

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import agents, knowledge, mcp_servers
from galaxyco_ui.services.agents import MAX_APPROVAL_TIMEOUT_SECONDS, AgentView, SortKey
from galaxyco_ui.services.approvals import HTTP_WRITE
from galaxyco_ui.services.mcp_servers import McpServerView
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.tools.catalog import SELECTABLE_TOOLS

MCP_TOOL_FIELD = "mcp_tool:"  # + a tool's entry: the names of the form's MCP tool checkboxes
NEW_AGENT_DEFAULTS = {
    "name": "",
    "description": "",
    "provider": "openai",
    "model": "gpt-4.1-mini",
    "instructions": "",
    "temperature": "0.7",
    "max_steps": "8",
    "max_output_tokens": "1024",
    "tags": "",
    "approval_minutes": "60",
}
ASK_FIELD = "ask:"  # + a tool's entry (or HTTP_WRITE): the names of the "Ask before running" switches


class AgentsState(rx.State):
    agents: rx.Field[list[AgentView]] = rx.field(default_factory=list)
    search: str = ""
    sort: str = "updated"
    loaded: bool = False

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        sort = cast(SortKey, self.sort)  # set_sort admits only SortKey values
        self.agents = agents.list_agents(ctx=ctx, search=self.search, sort=sort)
        self.loaded = True
        return None

    @rx.event
    def set_search(self, value: str):
        self.search = value[:100]
        return AgentsState.load

    @rx.event
    def set_sort(self, value: str):
        self.sort = value if value in ("updated", "name", "created") else "updated"
        return AgentsState.load


class AgentEditorState(rx.State):
    """One agent's form. ``form`` holds the values the inputs start from."""

    agent_id: str = ""
    is_new: bool = False
    not_found: bool = False
    can_edit: bool = False
    form: dict[str, str] = {}
    tools: rx.Field[list[str]] = rx.field(default_factory=list)
    # (id, name) of the workspace's knowledge collections, and those the agent searches.
    collections: rx.Field[list[tuple[str, str]]] = rx.field(default_factory=list)
    knowledge_ids: rx.Field[list[str]] = rx.field(default_factory=list)
    # Entries of ``tools`` whose calls wait for a person (components/approvals.py).
    approval_tools: rx.Field[list[str]] = rx.field(default_factory=list)
    # The workspace's MCP servers that list tools (components/mcp_servers.py shows them).
    mcp_catalog: rx.Field[list[McpServerView]] = rx.field(default_factory=list)
    errors: dict[str, str] = {}
    created_by_name: str = ""
    updated_label: str = ""
    form_key: int = 0

    @rx.var
    def title(self) -> str:
        if self.is_new:
            return "New agent"
        return self.form.get("name", "") or "Agent"

    @rx.var
    def approval_choices(self) -> list[list[str]]:
        """[entry, label] of every tool the form offers, then any other entry the agent has."""
        choices = [[t.name, t.label] for t in SELECTABLE_TOOLS]
        choices += [[t.entry, f"{s.name}: {t.name}"] for s in self.mcp_catalog for t in s.tools]
        known = {entry for entry, _ in choices}
        return choices + [[entry, entry] for entry in self.tools if entry not in known]

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        path = str(self.router.url.path).rstrip("/")
        self.errors, self.not_found = {}, False
        self.form_key += 1
        self.collections = knowledge.collection_choices(ctx=ctx)
        self.mcp_catalog = [s for s in mcp_servers.list_mcp_servers(ctx=ctx) if s.tools]
        if path.endswith("/agents/new"):
            self.is_new, self.agent_id, self.can_edit = True, "", True
            self.form, self.tools, self.knowledge_ids = dict(NEW_AGENT_DEFAULTS), [], []
            self.approval_tools = []
            self.created_by_name = self.updated_label = ""
            return None
        self.is_new, self.agent_id = False, ""  # kept only once the service has found it
        agent_id = path.rsplit("/", 1)[-1]
        try:
            self._show(agents.get_agent(ctx=ctx, agent_id=agent_id))
        except NotFoundError:
            self.not_found, self.can_edit = True, False
            return None
        self.agent_id = agent_id
        return None

    def _show(self, view: AgentView) -> None:
        self.form = {
            "name": view.name,
            "description": view.description,
            "provider": view.provider,
            "model": view.model,
            "instructions": view.instructions,
            "temperature": str(view.temperature),
            "max_steps": str(view.max_steps),
            "max_output_tokens": str(view.max_output_tokens),
            "tags": ", ".join(view.tags),
            "approval_minutes": str(max(1, view.approval_timeout_seconds // 60)),
        }
        self.tools = list(view.tools)
        self.approval_tools = list(view.approval_tools)
        self.knowledge_ids = list(view.knowledge_collection_ids)
        self.can_edit = view.can_edit
        self.created_by_name = view.created_by_name
        self.updated_label = view.updated_at.strftime("%Y-%m-%d %H:%M UTC")

    @rx.event
    @guarded
    def save(self, ctx: TenantContext, form_data: dict):
        data = {
            **{k: form_data.get(k, "") for k in NEW_AGENT_DEFAULTS},
            "tools": [t.name for t in SELECTABLE_TOOLS if form_data.get(f"tool_{t.name}")]
            # MCP tools: checked ones of the servers this form showed (an entry of a server
            # removed since is dropped; the service checks the rest).
            + [t.entry for s in self.mcp_catalog for t in s.tools if form_data.get(MCP_TOOL_FIELD + t.entry)],
            "knowledge_collection_ids": [cid for cid, _ in self.collections if form_data.get(f"kc_{cid}")],
        }
        for number in ("temperature", "max_steps", "max_output_tokens"):
            if str(data[number]).strip() == "":
                self.errors = {number: "Enter a number."}
                return None
        # "Ask before running" counts only for the tools enabled in this same form.
        enabled = cast(list[str], data["tools"])
        asked = [e for e in enabled if form_data.get(ASK_FIELD + e)]
        if "http_request" in enabled and form_data.get(ASK_FIELD + HTTP_WRITE):
            asked.append(HTTP_WRITE)
        data["approval_tools"] = asked
        # A form without the field (an older page, a script) keeps what the agent has.
        minutes = (
            str(data.pop("approval_minutes", "")).strip() or self.form.get("approval_minutes", "") or "60"
        )
        if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_APPROVAL_TIMEOUT_SECONDS // 60:
            self.errors = {
                "approval_minutes": f"Enter whole minutes from 1 to {MAX_APPROVAL_TIMEOUT_SECONDS // 60:,}."
            }
            return None
        data["approval_timeout_seconds"] = int(minutes) * 60
        try:
            if self.is_new:
                view = agents.create_agent(ctx=ctx, data=data)
            else:
                view = agents.update_agent(ctx=ctx, agent_id=self.agent_id, data=data)
        except ValidationError as exc:
            self.errors = dict(exc.field_errors)
            if "approval_timeout_seconds" in self.errors:  # the form asks in minutes
                self.errors["approval_minutes"] = "Enter a timeout from 1 minute to 7 days."
            return rx.toast.error("Please fix the highlighted fields.")
        self.errors = {}
        if self.is_new:
            return [rx.toast.success(f"Created “{view.name}”."), rx.redirect(f"/agents/{view.id}")]
        self._show(view)
        return rx.toast.success("Saved.")

    @rx.event
    @guarded
    def duplicate(self, ctx: TenantContext):
        view = agents.duplicate_agent(ctx=ctx, agent_id=self.agent_id)
        return [rx.toast.success(f"Created “{view.name}”."), rx.redirect(f"/agents/{view.id}")]

    @rx.event
    @guarded
    def delete(self, ctx: TenantContext):
        agents.delete_agent(ctx=ctx, agent_id=self.agent_id)
        return [rx.toast.success("Agent deleted."), rx.redirect("/agents")]
