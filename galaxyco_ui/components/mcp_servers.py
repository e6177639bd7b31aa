"""MCP servers in the UI: the Tools card of /settings and the MCP section of the agent form.

What a server says about itself (tool names, descriptions, errors) is untrusted: it is
shown as plain text only.
"""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import form_error, select_input, text_area, text_input
from galaxyco_ui.services.mcp_servers import MAX_AGENT_TOOLS, McpServerView, McpToolView
from galaxyco_ui.states.agents import MCP_TOOL_FIELD, AgentEditorState
from galaxyco_ui.states.mcp_servers import McpServersState


def _err(name: str) -> rx.Var:
    return McpServersState.errors.get(name, "")  # type: ignore[return-value]  # an ObjectVar here


def _credential_fields(
    form_id: str,
    err: Callable[[str], rx.Var],
    *,
    token: tuple[str, str],
    headers: tuple[str, str],
) -> tuple[rx.Component, rx.Component]:
    """The bearer token and headers fields ((label, hint) each): write-only, never filled in."""
    return (
        text_input(
            token[0],
            "token",
            form_id=form_id,
            type="password",
            auto_complete="new-password",
            max_length=4000,
            error=err("token"),
            hint=token[1],
        ),
        text_area(
            headers[0],
            "headers",
            form_id=form_id,
            placeholder="X-Api-Key: …",
            rows="2",
            max_length=20000,
            error=err("headers"),
            hint=headers[1],
        ),
    )


def _add_form() -> rx.Component:
    s = McpServersState
    transport = rx.cond(
        s.stdio_allowed,
        select_input(
            "Transport",
            "transport",
            [("http", "Streamable HTTP"), ("stdio", "stdio (a command on this server)")],
            form_id="mcp-new",
            error=_err("transport"),
        ),
        rx.el.input(type="hidden", name="transport", value="http"),
    )
    return rx.form(
        rx.vstack(
            rx.heading("Add an MCP server", size="3", as_="h3"),
            rx.flex(
                rx.box(
                    text_input("Name", "name", form_id="mcp-new", max_length=80, error=_err("name")),
                    flex="1",
                    min_width="180px",
                ),
                rx.box(transport, flex="1", min_width="180px"),
                spacing="3",
                width="100%",
                wrap="wrap",
            ),
            text_input(
                "Server URL (Streamable HTTP)",
                "url",
                form_id="mcp-new",
                placeholder="https://example.com/mcp",
                max_length=2000,
                error=_err("url"),
            ),
            rx.cond(
                s.stdio_allowed,
                text_input(
                    "Command (stdio only)",
                    "command",
                    form_id="mcp-new",
                    placeholder="uvx my-mcp-server --flag",
                    max_length=4000,
                    error=_err("command"),
                ),
            ),
            *_credential_fields(
                "mcp-new",
                _err,
                token=(
                    "Bearer token (optional)",
                    "Sent as Authorization: Bearer …; stored encrypted and never shown again.",
                ),
                headers=(
                    "Headers (optional)",
                    "One Name: value per line; stored encrypted and never shown again.",
                ),
            ),
            form_error(_err("form")),
            rx.button(
                "Add server",
                type="submit",
                loading=s.adding,
                aria_label="Add MCP server",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=s.register,
        reset_on_submit=False,
        key=s.form_key,
        width="100%",
    )


def _edit_err(name: str) -> rx.Var:
    return McpServersState.edit_errors.get(name, "")  # type: ignore[return-value]  # an ObjectVar here


def _edit_dialog(server: ObjectVar[McpServerView]) -> rx.Component:
    """The Edit dialog of one server (mounted while open; the secrets' fields start empty)."""
    s = McpServersState
    name = server.name.to(str)
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit the MCP server " + name),
            rx.dialog.description(
                "A new URL, command or credentials lists the server's tools again. Agents keep the "
                "tools they enabled when you rename it.",
                size="2",
                margin_bottom="1em",
            ),
            rx.form(
                rx.vstack(
                    text_input(
                        "Name",
                        "name",
                        form_id="mcp-edit",
                        default_value=name,
                        max_length=80,
                        error=_edit_err("name"),
                    ),
                    rx.cond(
                        server.transport == "stdio",
                        text_input(
                            "Command (stdio)",
                            "command",
                            form_id="mcp-edit",
                            default_value=server.command.to(str),
                            max_length=4000,
                            error=_edit_err("command"),
                        ),
                        text_input(
                            "Server URL (Streamable HTTP)",
                            "url",
                            form_id="mcp-edit",
                            default_value=server.url.to(str),
                            max_length=2000,
                            error=_edit_err("url"),
                            hint="Shown without its query string; leave it as it is to keep the stored one.",
                        ),
                    ),
                    *_credential_fields(
                        "mcp-edit",
                        _edit_err,
                        token=("New bearer token", "Leave empty to keep the stored token."),
                        headers=(
                            "New headers",
                            "One Name: value per line; they replace the stored headers. Leave empty to keep them.",
                        ),
                    ),
                    rx.cond(
                        server.headers_set,
                        rx.el.label(
                            rx.el.input(type="checkbox", name="clear_credentials", id="mcp-edit-clear"),
                            rx.text("Remove the stored token and headers", size="2"),
                            html_for="mcp-edit-clear",
                            class_name="gx-check",
                        ),
                    ),
                    form_error(_edit_err("form")),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                "Cancel",
                                variant="soft",
                                color_scheme="gray",
                                type="button",
                                aria_label="Cancel editing the MCP server " + name,
                            )
                        ),
                        rx.button(
                            "Save changes",
                            type="submit",
                            loading=s.saving,
                            aria_label="Save the MCP server " + name,
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=s.save_edit,
                reset_on_submit=False,
                width="100%",
            ),
        ),
        open=s.edit_id == server.id,
        on_open_change=s.edit_open_change,
    )


def _tool_badge(tool: ObjectVar[McpToolView]) -> rx.Component:
    return rx.tooltip(rx.badge(tool.name, variant="outline", size="1"), content=tool.description)


def _server_row(server: ObjectVar[McpServerView]) -> rx.Component:
    s = McpServersState
    name = server.name.to(str)
    count = server.tools.length()
    actions = rx.cond(
        s.can_manage,
        rx.hstack(
            rx.button(
                "Refresh tools",
                size="1",
                variant="soft",
                loading=s.refreshing == server.id,
                on_click=s.refresh(server.id),
                aria_label="Refresh the tools of the MCP server " + name,
            ),
            rx.button(
                "Edit",
                size="1",
                variant="soft",
                on_click=s.start_edit(server.id),
                aria_label="Edit the MCP server " + name,
            ),
            _edit_dialog(server),
            confirm_dialog(
                rx.button(
                    "Remove",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    aria_label="Remove the MCP server " + name,
                ),
                title="Remove this MCP server?",
                body="Agents stop getting its tools at once; their other tools stay.",
                confirm_label="Remove server",
                on_confirm=s.remove(server.id),
            ),
            spacing="2",
        ),
    )
    return rx.vstack(
        rx.hstack(
            rx.text(server.name, weight="medium", size="3"),
            rx.badge(rx.cond(server.transport == "stdio", "stdio", "HTTP"), color_scheme="gray"),
            rx.text(
                count.to_string() + rx.cond(count == 1, " tool", " tools"),
                size="2",
                aria_label="Tool count",
            ),
            rx.cond(server.headers_set, rx.badge("Credentials set", color_scheme="blue", size="1")),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.code(
            rx.cond(server.transport == "stdio", server.command, server.url),
            size="1",
            class_name="gx-code",
            word_break="break-all",
        ),
        rx.text(
            "Last refreshed: ",
            rx.cond(
                server.tools_refreshed_at,
                rx.moment(server.tools_refreshed_at, format="YYYY-MM-DD HH:mm", size="2"),
                "never",
            ),
            size="1",
            color_scheme="gray",
        ),
        rx.cond(
            server.last_error != "",
            rx.text(server.last_error, size="2", color_scheme="red", role="status", class_name="mcp-error"),
        ),
        rx.hstack(rx.foreach(server.tools, _tool_badge), spacing="1", wrap="wrap"),
        actions,
        role="group",
        aria_label="MCP server " + name,
        spacing="2",
        width="100%",
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-a4)",
    )


def mcp_servers_card() -> rx.Component:
    """Settings → Tools: MCP servers whose tools agents may enable."""
    s = McpServersState
    return rx.card(
        rx.vstack(
            rx.heading("Tools", size="4", as_="h2"),
            rx.text(
                "Connect MCP (Model Context Protocol) servers: agents can then enable their tools next "
                "to the built-in ones. GalaxyCo lists each server's tools when it is added and when you "
                "refresh it. Local and private addresses work only when the server's operator lists them "
                "in ALLOWED_PRIVATE_PROVIDER_HOSTS.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                s.servers.length() > 0,
                rx.vstack(rx.foreach(s.servers, _server_row), spacing="0", width="100%"),
                rx.text("No MCP servers yet.", size="2", color_scheme="gray"),
            ),
            rx.cond(
                s.can_manage,
                _add_form(),
                rx.text(
                    "Only admins and owners add, edit or remove MCP servers.", size="2", color_scheme="gray"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        id="tools",
        width="100%",
    )


# ---------------------------------------------------------------- the agent form's section


def _agent_tool_option(tool: ObjectVar[McpToolView], server_id: rx.Var, index: rx.Var) -> rx.Component:
    # Ids from the server's id and the tool's position: a tool name may hold spaces.
    field_id = "mcp-tool-" + server_id.to(str) + "-" + index.to_string()
    return rx.el.label(
        rx.el.input(
            type="checkbox",
            name=MCP_TOOL_FIELD + tool.entry.to(str),
            id=field_id,
            default_checked=AgentEditorState.tools.contains(tool.entry),
            disabled=~AgentEditorState.can_edit,
        ),
        rx.vstack(
            rx.text(tool.name, size="2", weight="medium"),
            rx.text(tool.description, size="1", color_scheme="gray"),
            spacing="0",
        ),
        html_for=field_id,
        class_name="gx-check",
    )


def _agent_server_group(server: ObjectVar[McpServerView]) -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(server.name, class_name="gx-label"),
        rx.vstack(
            rx.foreach(server.tools, lambda tool, index: _agent_tool_option(tool, server.id, index)),
            spacing="2",
        ),
        class_name="gx-fieldset",
    )


def agent_mcp_tools_field() -> rx.Component:
    """The agent form's MCP tools, grouped by server (shown when the workspace has any)."""
    return rx.cond(
        AgentEditorState.mcp_catalog.length() > 0,
        rx.el.fieldset(
            rx.el.legend("MCP tools", class_name="gx-label"),
            rx.vstack(
                rx.text(
                    f"Tools of the workspace's MCP servers (Settings → Tools). An agent can use at most "
                    f"{MAX_AGENT_TOOLS} tools in all.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.foreach(AgentEditorState.mcp_catalog, _agent_server_group),
                spacing="2",
            ),
            class_name="gx-fieldset",
            id="agent-mcp-tools",
        ),
    )
