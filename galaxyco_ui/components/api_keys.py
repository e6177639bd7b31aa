"""The API keys card of /settings (admins and owners): keys, the one-time secret, the rate limit."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import copy_button, field, limit_input, one_time_secret, text_input
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.api_keys import ApiKeyView
from galaxyco_ui.states.api_keys import ApiKeysState

_STATUS_COLORS = {"active": "green", "expired": "amber", "revoked": "gray"}


def _when(value: rx.Var, empty: str) -> rx.Component:
    return rx.cond(value, rx.moment(value, format="YYYY-MM-DD HH:mm", size="2"), rx.text(empty, size="2"))


def _key_row(k: ObjectVar[ApiKeyView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(k.name, size="2", weight="medium")),
        rx.table.cell(rx.text(k.role, size="2")),
        rx.table.cell(rx.code(k.prefix.to(str) + "…", variant="ghost", size="1")),
        rx.table.cell(rx.text(k.created_by_name, size="2")),
        rx.table.cell(_when(k.created_at, "")),
        rx.table.cell(_when(k.last_used_at, "Never")),
        rx.table.cell(_when(k.expires_at, "Never")),
        rx.table.cell(rx.badge(k.status, color_scheme=rx.match(k.status, *_STATUS_COLORS.items(), "gray"))),
        rx.table.cell(
            rx.cond(
                k.status == "active",
                confirm_dialog(
                    rx.button(
                        "Revoke",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        aria_label="Revoke " + k.name.to(str),
                    ),
                    title="Revoke this API key?",
                    body="Requests with “"
                    + k.name.to(str)
                    + "” are refused from now on. This cannot be undone.",
                    confirm_label="Revoke key",
                    on_confirm=ApiKeysState.revoke(k.id),
                ),
            )
        ),
    )


def _revealed_secret() -> rx.Component:
    s = ApiKeysState
    return rx.cond(
        s.revealed_secret != "",
        one_time_secret(
            s.revealed_secret,
            code_id="api-key-secret",
            heading=rx.text("Your new API key “", s.revealed_name, "”", weight="bold", size="2"),
            hint="Copy it now and keep it somewhere safe: it will not be shown again. Send it as "
            "Authorization: Bearer <key>.",
            what="the new API key",
            copied="API key copied.",
            dismiss_text="I have copied it",
            on_dismiss=s.dismiss_secret,
        ),
    )


def _create_form() -> rx.Component:
    s = ApiKeysState
    role_field = field(
        "Role",
        rx.el.select(
            rx.foreach(s.role_options, lambda o: rx.el.option(o[1], value=o[0])),
            id="api-key-role",
            name="role",
            default_value=s.default_role,
            class_name="gx-select",
            aria_describedby="api-key-role-error",
        ),
        field_id="api-key-role",
        error=s.errors.get("role", ""),
    )
    expiry_field = text_input(
        "Expires on (optional)",
        "expires_on",
        form_id="api-key",
        type="date",
        error=s.errors.get("expires_at", ""),
        hint="The key stops working at the end of this day (UTC). Leave empty for no expiry.",
    )
    return rx.form(
        rx.flex(
            rx.box(
                text_input(
                    "Key name",
                    "name",
                    form_id="api-key",
                    placeholder="e.g. CI pipeline",
                    max_length=80,
                    error=s.errors.get("name", ""),
                ),
                flex="2",
                min_width="200px",
            ),
            rx.box(role_field, flex="1", min_width="140px"),
            rx.box(expiry_field, flex="1", min_width="180px"),
            rx.button("Create key", type="submit", size="3", margin_top="1.6em", aria_label="Create API key"),
            spacing="3",
            align="start",
            width="100%",
            wrap="wrap",
        ),
        on_submit=s.create,
        # A refused create keeps what was typed; a successful one bumps form_key.
        reset_on_submit=False,
        key=s.form_key,
        width="100%",
    )


def _rate_limit_form() -> rx.Component:
    s = ApiKeysState
    return rx.form(
        rx.flex(
            limit_input(
                "Requests per minute, per key",
                "per_minute",
                form_id="api-rate",
                value=s.per_minute,
                operator_max=s.operator_max,
                error=s.rate_error,
                max_width="320px",
            ),
            rx.button("Save", type="submit", size="3", margin_top="1.6em", aria_label="Save API rate limit"),
            spacing="3",
            align="start",
            wrap="wrap",
        ),
        on_submit=s.save_rate_limit,
        reset_on_submit=False,
        key=s.form_key,
        width="100%",
    )


def _mcp_clients() -> rx.Component:
    s = ApiKeysState
    return rx.vstack(
        rx.heading("Use with MCP clients", size="3", as_="h3"),
        rx.text(
            "MCP clients (Claude Desktop, Cursor, …) can run this workspace's agents as tools and search "
            "its knowledge: give them this address and an API key as bearer token. A viewer key sees "
            "knowledge search only.",
            size="2",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.text("Endpoint", size="2", weight="medium"),
            rx.code(s.mcp_url, id="mcp-endpoint", size="2", class_name="gx-code"),
            copy_button(s.mcp_url, what="the MCP endpoint URL", copied="MCP endpoint URL copied."),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.hstack(
            rx.text("Client configuration", size="2", weight="medium"),
            copy_button(
                s.mcp_config, what="the MCP client configuration", copied="MCP client configuration copied."
            ),
            spacing="2",
            align="center",
        ),
        rx.el.pre(s.mcp_config, id="mcp-config", class_name="gx-pre", aria_label="MCP client configuration"),
        spacing="2",
        width="100%",
    )


def api_keys_card() -> rx.Component:
    s = ApiKeysState
    return rx.card(
        rx.vstack(
            rx.heading("API keys", size="4", as_="h2"),
            rx.text(
                "Keys let programs use this workspace through the API, with the role you choose (never "
                "more than their creator's current role). A key is shown once, when it is created; only "
                "its first characters are kept in view. Revoking a key refuses its next request.",
                size="2",
                color_scheme="gray",
            ),
            _revealed_secret(),
            _create_form(),
            rx.cond(
                s.keys.length() > 0,
                data_table(
                    ["Name", "Role", "Key", "Created by", "Created", "Last used", "Expires", "Status", ""],
                    s.keys,
                    _key_row,
                    size="1",
                ),
                rx.text("No API keys yet.", size="2", color_scheme="gray"),
            ),
            rx.heading("Rate limit", size="3", as_="h3"),
            _rate_limit_form(),
            _mcp_clients(),
            spacing="3",
            width="100%",
        ),
        id="api-keys",
        width="100%",
    )
