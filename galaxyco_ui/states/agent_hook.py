"""The agent page's Trigger URL section: turn it on, copy, regenerate, turn off, template."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import agent_hooks, agents
from galaxyco_ui.services.agent_hooks import DEFAULT_TEMPLATE, HookView
from galaxyco_ui.states.guard import guarded


class AgentHookState(rx.State):
    agent_id: str = ""
    loaded: bool = False
    has_hook: bool = False
    enabled: bool = False
    can_edit: bool = False
    # The full URL with its token: only ever set for those who may edit the agent.
    url: str = ""
    template: str = DEFAULT_TEMPLATE
    template_error: str = ""
    template_key: int = 0

    @rx.var
    def curl_example(self) -> str:
        if not self.url:
            return ""
        return (
            f"curl -X POST '{self.url}' -H 'Content-Type: application/json' "
            """-d '{"text": "Hello from curl"}'"""
        )

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        path = str(self.router.url.path).rstrip("/")
        self.agent_id, self.loaded = "", False  # kept only once the service has found the agent
        self._show(None)
        if path.endswith("/agents/new"):
            return None
        agent_id = path.rsplit("/", 1)[-1]
        try:
            view = agent_hooks.get_hook(ctx=ctx, agent_id=agent_id)
        except NotFoundError:
            return None
        self.agent_id, self.loaded = agent_id, True
        self._show(view)
        # Those who may edit see the section even before a URL exists: ask the agent.
        if view is None:
            self.can_edit = _may_edit(ctx, agent_id)
        return None

    def _show(self, view: HookView | None) -> None:
        self.template_error = ""
        self.template_key += 1
        if view is None:
            self.has_hook, self.enabled, self.url, self.template = False, False, "", DEFAULT_TEMPLATE
            self.can_edit = False
            return
        self.has_hook, self.enabled, self.can_edit = True, view.enabled, view.can_edit
        self.url = view.url
        self.template = view.input_template if view.can_edit else ""

    @rx.event
    @guarded
    def enable(self, ctx: TenantContext):
        self._show(agent_hooks.enable_hook(ctx=ctx, agent_id=self.agent_id))
        return rx.toast.success("Trigger URL on. Copy it into the system that should start this agent.")

    @rx.event
    @guarded
    def regenerate(self, ctx: TenantContext):
        self._show(agent_hooks.regenerate_hook_token(ctx=ctx, agent_id=self.agent_id))
        return rx.toast.success("New trigger URL made. The old URL no longer works.")

    @rx.event
    @guarded
    def disable(self, ctx: TenantContext):
        view = agent_hooks.disable_hook(ctx=ctx, agent_id=self.agent_id)
        self._show(view)
        if view is None:  # it never had one: show the editor's view again
            self.can_edit = _may_edit(ctx, self.agent_id)
        return rx.toast.success("Trigger URL off. Requests to it are refused.")

    @rx.event
    @guarded(field_errors="template_error")
    def save_template(self, ctx: TenantContext, form: dict):
        self.template_error = ""
        template = form.get("input_template", "")
        self._show(
            agent_hooks.set_hook_template(
                ctx=ctx, agent_id=self.agent_id, input_template=template if isinstance(template, str) else ""
            )
        )
        return rx.toast.success("Template saved.")


def _may_edit(ctx: TenantContext, agent_id: str) -> bool:
    try:
        return agents.get_agent(ctx=ctx, agent_id=agent_id).can_edit
    except NotFoundError:
        return False
