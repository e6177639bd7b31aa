"""Settings → Tools: the workspace's MCP servers (admins change them, everyone reads them)."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex_base.event import EventSpec  # rx.event.EventSpec is not a type to mypy

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import mcp_servers
from galaxyco_ui.services.mcp_servers import McpServerView
from galaxyco_ui.states.guard import guarded

FORM_FIELDS = ("name", "transport", "url", "command", "token", "headers")
EDIT_FIELDS = ("name", "url", "command", "token", "headers", "clear_credentials")


def _text(form: object, name: str) -> str:
    value = form.get(name, "") if isinstance(form, dict) else ""
    return value if isinstance(value, str) else ""


class McpServersState(rx.State):
    can_manage: bool = False
    stdio_allowed: bool = False  # the operator's MCP_ALLOW_STDIO: the form offers stdio
    servers: rx.Field[list[McpServerView]] = rx.field(default_factory=list)
    errors: dict[str, str] = {}  # the add form: field → message
    form_key: int = 0
    adding: bool = False
    refreshing: str = ""  # the server whose tools are being listed
    # The server whose Edit dialog is open, that form's errors, and whether it is saving.
    edit_id: str = ""
    edit_errors: dict[str, str] = {}
    saving: bool = False

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.can_manage = can(ctx, Permission.MANAGE_SETTINGS)
        self.stdio_allowed = get_settings().mcp_allow_stdio
        self.errors, self.adding, self.refreshing = {}, False, ""
        self.edit_id, self.edit_errors, self.saving = "", {}, False
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        return None

    @rx.event
    @guarded(field_errors="errors", reset={"adding": False})
    async def register(self, ctx: TenantContext, form: dict):
        self.adding = True
        yield
        data: dict[str, object] = {name: _text(form, name) for name in FORM_FIELDS}
        # Vetting the URL resolves its host (blocking DNS): off the event loop.
        view = await asyncio.to_thread(mcp_servers.register_mcp_server, ctx=ctx, data=data)
        self.errors = {}
        self.form_key += 1  # a refused add keeps what was typed; this one clears the form
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        yield
        view = await mcp_servers.refresh_mcp_server(ctx=ctx, server_id=view.id)
        self.adding = False
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        yield _refreshed_toast(view, added=True)

    @rx.event
    @guarded(reset={"refreshing": ""})
    async def refresh(self, ctx: TenantContext, server_id: str):
        self.refreshing = server_id if isinstance(server_id, str) else ""
        yield
        view = await mcp_servers.refresh_mcp_server(ctx=ctx, server_id=server_id)
        self.refreshing = ""
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        yield _refreshed_toast(view, added=False)

    @rx.event
    @guarded
    def start_edit(self, ctx: TenantContext, server_id: str):
        # Only a server this client was shown; the service checks it again on save.
        if not isinstance(server_id, str) or not any(s.id == server_id for s in self.servers):
            raise NotFoundError("That MCP server")
        self.edit_id, self.edit_errors, self.saving = server_id, {}, False
        return None

    @rx.event
    @guarded
    def edit_open_change(self, ctx: TenantContext, is_open: bool):
        if is_open is not True:  # Escape, the overlay or the close button
            self.edit_id, self.edit_errors = "", {}
        return None

    @rx.event
    @guarded(field_errors="edit_errors", reset={"saving": False})
    async def save_edit(self, ctx: TenantContext, form: dict):
        server_id = self.edit_id
        if not server_id:
            return
        self.saving = True
        yield
        data: dict[str, object] = {name: _text(form, name) for name in EDIT_FIELDS}
        # Saving vets a new URL (blocking DNS, in a thread) and lists the tools again when
        # the connection changed.
        view = await mcp_servers.update_mcp_server(ctx=ctx, server_id=server_id, data=data)
        self.edit_id, self.edit_errors, self.saving = "", {}, False
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        if view.last_error:
            yield rx.toast.error(f"Saved “{view.name}”; its last tool listing failed: {view.last_error}")
        else:
            yield rx.toast.success(f"Saved “{view.name}”.")

    @rx.event
    @guarded
    def remove(self, ctx: TenantContext, server_id: str):
        mcp_servers.remove_mcp_server(ctx=ctx, server_id=server_id)
        self.servers = mcp_servers.list_mcp_servers(ctx=ctx)
        return rx.toast.success("MCP server removed: agents no longer get its tools.")


def _refreshed_toast(view: McpServerView, *, added: bool) -> EventSpec:
    if view.last_error:
        return rx.toast.error(f"Could not list the tools of “{view.name}”: {view.last_error}")
    count = len(view.tools)
    what = "Added" if added else "Refreshed"
    return rx.toast.success(f"{what} “{view.name}”: {count} tool{'s' if count != 1 else ''}.")
