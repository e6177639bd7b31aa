"""Settings → Tools: MCP servers whose tools agents may use (``tools/mcp_client.py``).

Owners and admins register a server (a name unique in the workspace; Streamable HTTP at
a URL, or a stdio command when the operator sets ``MCP_ALLOW_STDIO=true``), refresh its
tool list on demand and remove it; every member reads the list. A URL is vetted when it
is saved (public addresses; loopback and private ``host:port`` pairs only when listed in
``ALLOWED_PRIVATE_PROVIDER_HOSTS``; never link-local or cloud metadata) and again at
every connection. A bearer token and other headers are stored encrypted only
(``infra.crypto``, purpose ``mcp-headers``) and never shown back: views say whether
there are any.

A refresh connects (outside any transaction), lists the tools and stores their name,
description and input schema, or the reason it failed in ``last_error`` (refused
address, unreachable, credentials refused, not an MCP endpoint, timeout). An edit may
rename a server, change its URL (vetted again) or command, and replace or clear its
credentials (write-only: an empty field keeps what is stored); a changed connection
lists the tools again. Registering, editing, refreshing and removing are audited
(``mcp_server.*``).

Agents enable individual tools as ``"mcp:<server_id>:<tool_name>"`` entries of their
``tools`` (keyed by id: renaming a server changes no agent); ``check_agent_mcp_tools`` is
the agents service's check of those entries.
"""

from __future__ import annotations

import asyncio
import shlex
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import McpServer, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.mcp_headers import clean_headers, edited_headers, encrypted_headers, stored_headers
from galaxyco_ui.services.validation import check_text, clean_name, lookup_id, name_key
from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolError
from galaxyco_ui.tools.mcp_client import (
    entry_for,
    list_server_tools,
    parse_entry,
    server_spec,
)

MAX_SERVERS = 20  # per workspace
MAX_AGENT_TOOLS = 64  # tools per agent, built-in and MCP together (clients break past ~100)
MAX_URL_LENGTH = 2000
MAX_COMMAND_ARGS = 32
MAX_COMMAND_ARG = 500


class McpToolView(BaseModel):
    name: str
    description: str
    entry: str  # what an agent's ``tools`` holds to enable it


class McpServerView(BaseModel):
    id: str
    name: str
    transport: str  # "http" | "stdio"
    url: str  # scheme, host, port and path: never a query (it may hold a token)
    command: str  # stdio: the command line
    headers_set: bool  # a token or headers are stored (never shown back)
    tools: list[McpToolView]
    tools_refreshed_at: datetime | None
    last_error: str
    created_at: datetime


def list_mcp_servers(*, ctx: TenantContext) -> list[McpServerView]:
    """The workspace's live MCP servers, by name, with their tools as last refreshed."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = session.exec(
            select(McpServer).where(
                McpServer.workspace_id == ctx.workspace_id, col(McpServer.deleted_at).is_(None)
            )
        ).all()
        return sorted((_view(row) for row in rows), key=lambda v: (name_key(v.name), v.id))


def register_mcp_server(*, ctx: TenantContext, data: dict[str, object]) -> McpServerView:
    """Register a server (its tools are listed by ``refresh_mcp_server``). Resolves the URL's
    host (blocking: call from a thread).

    ``data``: ``name``, ``transport`` ("http" or "stdio"), ``url`` (http), ``command``
    (stdio, a command line), ``token`` (sent as ``Authorization: Bearer``) and ``headers``
    (``Name: value`` lines).

    Raises:
        ValidationError: a field is missing or invalid (the URL's address is refused,
            stdio is turned off, a header is malformed), or the workspace has
            ``MAX_SERVERS`` already.
        ConflictError: another live server has this name.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    name = clean_name(check_text(data.get("name"), field="name"), field="name", label="Name", max_length=80)
    transport = check_text(data.get("transport", "http"), field="transport").strip() or "http"
    url, command = "", []
    if transport == "http":
        url = _clean_url(data.get("url", ""))
    elif transport == "stdio":
        if not get_settings().mcp_allow_stdio:
            raise ValidationError(
                {
                    "transport": "stdio MCP servers start a process on the GalaxyCo server and are turned "
                    "off; its operator can allow them with MCP_ALLOW_STDIO=true."
                }
            )
        command = _clean_command(data.get("command", ""))
    else:
        raise ValidationError({"transport": "Choose Streamable HTTP or stdio."})
    headers = clean_headers(data.get("headers", ""), data.get("token", ""))
    with session_scope() as session:
        count = session.exec(
            select(func.count())
            .select_from(McpServer)
            .where(McpServer.workspace_id == ctx.workspace_id, col(McpServer.deleted_at).is_(None))
        ).one()
        if count >= MAX_SERVERS:
            raise ValidationError({"name": f"A workspace can have at most {MAX_SERVERS} MCP servers."})
        if _name_taken(session, ctx, name):
            raise _name_conflict(name)
        row = McpServer(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            name=name,
            transport=transport,
            url=url,
            command=command,
            headers_encrypted=encrypted_headers(headers),
        )
        session.add(row)
        _flush_named(session, name)
        audit.record(
            session,
            ctx,
            "mcp_server.created",
            summary=f"Added the MCP server “{name}”",
            target_type="mcp_server",
            target_id=row.id,
            data={"transport": transport, "url": _shown_url(url), "headers": sorted(headers)},
        )
        return _view(row)


async def refresh_mcp_server(*, ctx: TenantContext, server_id: str) -> McpServerView:
    """Connect to the server and store its tool list, or why that failed in ``last_error``.

    A failure keeps the previous tool list (agents keep working if the server is back by
    their next run) and is not raised: the view's ``last_error`` says it.

    Raises:
        NotFoundError: no such live server in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    checked = lookup_id(server_id)
    with session_scope() as session:
        spec = server_spec(_server(session, ctx, checked))
    error, listed = "", []
    try:
        listed = [tool.as_json() for tool in await list_server_tools(spec)]
    except ToolError as failure:
        error = failure.message[:1000]
    with session_scope() as session:
        row = _server(session, ctx, checked)
        if not error:
            row.tools, row.tools_refreshed_at = listed, utcnow()
        row.last_error = error
        row.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "mcp_server.refreshed",
            summary=f"Refreshed the tools of the MCP server “{row.name}”"
            + (f": {error}" if error else f" ({len(listed)} tools)"),
            target_type="mcp_server",
            target_id=row.id,
            data={"tools": [t["name"] for t in listed][:200]} if not error else {"error": error},
        )
        return _view(row)


async def update_mcp_server(*, ctx: TenantContext, server_id: str, data: dict[str, object]) -> McpServerView:
    """Edit a server, then list its tools again when its URL, command or credentials changed.

    ``data``: ``name``; ``url`` (http; the URL as views show it, without its query, keeps
    the stored one) or ``command`` (stdio); ``token`` and ``headers`` replace the stored
    bearer token and the other headers, each only when given (write-only: empty keeps
    them); ``clear_credentials`` (truthy) removes the stored ones first. Agents keep the
    server's tools: their entries hold its id, not its name. A failed listing keeps the
    previous tools and says why in ``last_error``, as ``refresh_mcp_server`` does.

    Raises:
        NotFoundError: no such live server in this workspace.
        ValidationError: a field is invalid (the URL's address is refused, stdio is
            turned off, a header is malformed).
        ConflictError: another live server has this name.
    """
    view, reconnect = await asyncio.to_thread(_save_edit, ctx, server_id, data)  # vetting resolves DNS
    if reconnect:
        return await refresh_mcp_server(ctx=ctx, server_id=view.id)
    return view


def _save_edit(ctx: TenantContext, server_id: str, data: dict[str, object]) -> tuple[McpServerView, bool]:
    """The edit in one transaction; whether the connection changed (so tools are listed again)."""
    require(ctx, Permission.MANAGE_SETTINGS)
    checked = lookup_id(server_id)
    name = clean_name(check_text(data.get("name"), field="name"), field="name", label="Name", max_length=80)
    with session_scope() as session:
        row = _server(session, ctx, checked)
        transport, stored_url, stored_command = row.transport, row.url, list(row.command or [])
        before_headers = stored_headers(row)
    url, command = stored_url, stored_command
    if transport == "http":
        given = check_text(data.get("url", ""), field="url").strip()
        if given != _shown_url(stored_url):  # the form shows the URL without its query
            url = _clean_url(given)
    else:
        given = check_text(data.get("command", ""), field="command").strip()
        if given != shlex.join(stored_command):
            if not get_settings().mcp_allow_stdio:
                raise ValidationError({"command": "stdio MCP servers are turned off (MCP_ALLOW_STDIO)."})
            command = _clean_command(given)
    headers = edited_headers(before_headers, data)
    with session_scope() as session:
        row = _server(session, ctx, checked)
        changed = [
            what
            for what, differs in (
                ("name", name != row.name),
                ("url", url != stored_url),
                ("command", command != stored_command),
                ("credentials", headers != before_headers),
            )
            if differs
        ]
        if not changed:
            return _view(row), False
        if name_key(name) != name_key(row.name) and _name_taken(session, ctx, name):
            raise _name_conflict(name)
        old_name = row.name
        row.name, row.url, row.command = name, url, command
        row.headers_encrypted = encrypted_headers(headers)
        row.updated_at = utcnow()
        _flush_named(session, name)
        audit.record(
            session,
            ctx,
            "mcp_server.updated",
            summary=f"Edited the MCP server “{name}”"
            + (f" (was “{old_name}”)" if old_name != name else "")
            + f": {', '.join(changed)}",
            target_type="mcp_server",
            target_id=row.id,
            data={"changed": changed, "url": _shown_url(url), "headers": sorted(headers)},
        )
        return _view(row), any(what != "name" for what in changed)


def remove_mcp_server(*, ctx: TenantContext, server_id: str) -> None:
    """Remove a server (soft delete): its tools stop being offered to agents at once.

    Raises:
        NotFoundError: no such live server in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        row = _server(session, ctx, lookup_id(server_id))
        row.deleted_at = row.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "mcp_server.deleted",
            summary=f"Removed the MCP server “{row.name}”",
            target_type="mcp_server",
            target_id=row.id,
        )


def check_agent_mcp_tools(session: Session, ctx: TenantContext, tools: list[str]) -> None:
    """Refuse an agent's tool list with too many tools or an MCP entry the workspace lacks.

    Raises:
        ValidationError: on ``tools``: more than ``MAX_AGENT_TOOLS``, or an ``mcp:`` entry
            whose server is not a live server of the workspace or no longer lists the tool.
    """
    if len(tools) > MAX_AGENT_TOOLS:
        raise ValidationError(
            {
                "tools": f"An agent can use at most {MAX_AGENT_TOOLS} tools ({len(tools)} chosen). Choose fewer."
            }
        )
    wanted = [parsed for entry in tools if (parsed := parse_entry(entry)) is not None]
    if not wanted:
        return
    rows = session.exec(
        select(McpServer).where(
            McpServer.workspace_id == ctx.workspace_id,
            col(McpServer.id).in_(sorted({server_id for server_id, _ in wanted})),
            col(McpServer.deleted_at).is_(None),
        )
    ).all()
    listed = {row.id: {str(t.get("name")) for t in row.tools or []} for row in rows}
    for server_id, tool_name in wanted:
        if tool_name not in listed.get(server_id, set()):
            raise ValidationError(
                {"tools": "A chosen MCP tool is no longer offered by its server. Reload and choose again."}
            )


# ---------------------------------------------------------------- internals


def _server(session: Session, ctx: TenantContext, server_id: str | None) -> McpServer:
    row = session.get(McpServer, server_id) if server_id else None
    if row is None or row.workspace_id != ctx.workspace_id or row.deleted_at is not None:
        raise NotFoundError("That MCP server")
    return row


def _name_conflict(name: str) -> ConflictError:
    return ConflictError({"name": f"An MCP server named “{name}” already exists in this workspace."})


def _flush_named(session: Session, name: str) -> None:
    """Flush a new or renamed server; the unique index refuses two admins saving one name at once."""
    try:
        session.flush()
    except IntegrityError:
        raise _name_conflict(name) from None


def _name_taken(session: Session, ctx: TenantContext, name: str) -> bool:
    key = name_key(name)
    names = session.exec(
        select(McpServer.name).where(
            McpServer.workspace_id == ctx.workspace_id, col(McpServer.deleted_at).is_(None)
        )
    ).all()
    return any(name_key(other) == key for other in names)


def _clean_url(value: object) -> str:
    url = check_text(value, field="url").strip()
    if not url:
        raise ValidationError(
            {"url": "Enter the server's Streamable HTTP URL, like https://example.com/mcp."}
        )
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError({"url": f"Use at most {MAX_URL_LENGTH} characters."})
    try:
        netguard.vet_provider_url_blocking(url, allowed_private=get_settings().private_provider_hosts)
    except ToolError as refused:
        raise ValidationError(
            {"url": refused.message.replace("a provider base URL can", "an MCP server URL can")}
        ) from None
    return url


def _clean_command(value: object) -> list[str]:
    line = check_text(value, field="command").strip()
    try:
        argv = shlex.split(line)
    except ValueError as error:
        raise ValidationError({"command": f"The command line cannot be read: {error}."}) from None
    if not argv:
        raise ValidationError(
            {"command": "Enter the command that starts the server, like: uvx my-mcp-server."}
        )
    if len(argv) > MAX_COMMAND_ARGS or any(len(arg) > MAX_COMMAND_ARG for arg in argv):
        raise ValidationError(
            {"command": f"Use at most {MAX_COMMAND_ARGS} arguments of at most {MAX_COMMAND_ARG} characters."}
        )
    return argv


def _shown_url(url: str) -> str:
    """Scheme, host, port and path: what views and the audit log show (no query, no fragment)."""
    if not url:
        return ""
    try:
        return str(httpx.URL(url).copy_with(query=None, fragment=None))
    except (httpx.InvalidURL, ValueError):
        return ""


def _view(row: McpServer) -> McpServerView:
    tools: list[dict[str, Any]] = list(row.tools or [])
    return McpServerView(
        id=row.id,
        name=row.name,
        transport=row.transport,
        url=_shown_url(row.url),
        command=shlex.join(row.command or []),
        headers_set=bool(row.headers_encrypted),
        tools=[
            McpToolView(
                name=str(t.get("name", "")),
                description=str(t.get("description", "")),
                entry=entry_for(row.id, str(t.get("name", ""))),
            )
            for t in tools
        ],
        tools_refreshed_at=row.tools_refreshed_at,
        last_error=row.last_error,
        created_at=row.created_at,
    )
