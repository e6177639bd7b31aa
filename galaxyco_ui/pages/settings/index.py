"""/settings: the workspace's name, provider keys, knowledge settings, API keys, webhooks, tools
(MCP servers),
limits (budgets and run limits, #limits), and the way to its audit log (/settings/audit)."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.api_keys import api_keys_card
from galaxyco_ui.components.audit_log import audit_log_link
from galaxyco_ui.components.knowledge_settings import knowledge_settings_card
from galaxyco_ui.components.limits import limits_card
from galaxyco_ui.components.mcp_servers import mcp_servers_card
from galaxyco_ui.components.providers import providers_card
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.webhooks import webhooks_card
from galaxyco_ui.components.workspace_settings import general_card
from galaxyco_ui.states.api_keys import ApiKeysState
from galaxyco_ui.states.limits import LimitsState
from galaxyco_ui.states.settings import SettingsState
from galaxyco_ui.states.webhooks import WebhooksState


def settings_page() -> rx.Component:
    return shell(
        "Settings",
        general_card(),
        providers_card(),
        knowledge_settings_card(),
        rx.cond(ApiKeysState.can_manage, api_keys_card()),
        rx.cond(WebhooksState.can_manage, webhooks_card()),
        mcp_servers_card(),  # Tools: everyone reads it, admins change it
        rx.cond(LimitsState.can_manage, limits_card()),
        rx.cond(SettingsState.can_view_audit, audit_log_link()),
    )
