"""MCP servers' tools as agent tools: list a server's tools, call one, name them for models.

A workspace registers MCP servers (``services/mcp_servers.py``, table ``mcp_servers``);
an agent enables individual tools as ``"mcp:<server_id>:<tool_name>"`` entries of
``agent.tools``. For a run, ``agent_tools`` loads the workspace's servers once and
returns a registry holding the built-in tools plus one ``McpTool`` per enabled MCP tool,
under a model-safe name (``^[a-zA-Z0-9_-]{1,64}$``, ``<server>__<tool>``, unique).

Each call opens its own connection (no session outlives a call) and goes through the
registry like any tool: argument validation, the ``MCP_TOOL_TIMEOUT_SECONDS`` deadline,
the result-size cap (``registry.truncate``). The result's text content is joined; a
result with ``isError`` is an error result the model reads.

Safety: the server's output is hostile input like any tool result. Streamable HTTP
connects through ``providers.http.VettedTransport``: the URL is vetted at every request
(public addresses only; loopback and private ``host:port`` pairs only when the operator
lists them in ``ALLOWED_PRIVATE_PROVIDER_HOSTS``; never link-local or cloud metadata),
the connection goes to the vetted address (no DNS rebinding), redirects stay on the
origin, and proxies from the environment are ignored. stdio servers start a process on
this machine: they run only when the operator sets ``MCP_ALLOW_STDIO=true``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlmodel import col, select

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import McpServer
from galaxyco_ui.providers.base import ProviderAddressError
from galaxyco_ui.providers.http import VettedTransport
from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.registry import ToolRegistry, default_registry

log = logging.getLogger(__name__)

HEADERS_PURPOSE = "mcp-headers"
ENTRY_PREFIX = "mcp:"
MAX_RESULT_CHARS = 20_000
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # one HTTP response from a server (a tool list, a result)
MAX_TOOLS_PER_SERVER = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_SCHEMA_CHARS = 20_000
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
# The caller's deadline (the registry's, or list_server_tools') fires first and says
# "timeout"; the SDK's own read timeout is only a backstop.
_GRACE = 5.0
_SERVER_PART, _TOOL_PART = 20, 40  # + "__" and a "_NN" suffix stays within 64


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to reach one registered MCP server (headers decrypted: never log them)."""

    id: str
    name: str
    transport: str
    url: str = ""
    command: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class ListedTool:
    """One tool as the server lists it (already cut to the stored sizes)."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


# ---------------------------------------------------------------- entries and names


def parse_entry(entry: str) -> tuple[str, str] | None:
    """``(server_id, tool_name)`` of an ``"mcp:<server_id>:<tool_name>"`` entry, else None."""
    if not entry.startswith(ENTRY_PREFIX):
        return None
    server_id, sep, tool_name = entry[len(ENTRY_PREFIX) :].partition(":")
    if not sep or not server_id or not tool_name:
        return None
    return server_id, tool_name


def entry_for(server_id: str, tool_name: str) -> str:
    """The ``agent.tools`` entry that enables ``tool_name`` of server ``server_id``."""
    return f"{ENTRY_PREFIX}{server_id}:{tool_name}"


def model_name(server_name: str, tool_name: str, taken: set[str]) -> str:
    """A name models accept (``^[a-zA-Z0-9_-]{1,64}$``) for a server's tool, not in ``taken``.

    ``<server>__<tool>`` with unsafe characters replaced by ``_``; built-in tool names
    have no ``__``, so they never collide. The name is added to ``taken``.
    """
    server = _NAME_UNSAFE.sub("_", server_name).strip("_")[:_SERVER_PART] or "mcp"
    tool = _NAME_UNSAFE.sub("_", tool_name).strip("_")[:_TOOL_PART] or "tool"
    base = f"{server}__{tool}"
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


# ---------------------------------------------------------------- connecting


class ResponseTooLarge(ToolError):
    """A server sent more than ``MAX_RESPONSE_BYTES`` in one HTTP response."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The MCP server sent more than {limit:,} bytes in one response; it was cut off.")


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that raises ``ResponseTooLarge`` past ``limit`` bytes."""

    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner, self._limit = inner, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx2.AsyncBaseTransport):
    """Caps every response body: the result-size cap applies after a whole answer is read,
    so without this a hostile server could make the app buffer gigabytes."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner, self._limit = inner, limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        if isinstance(response.stream, httpx2.AsyncByteStream):
            response.stream = _CappedStream(response.stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _clean_error(error: BaseException) -> list[BaseException]:
    """The leaves of an exception group (anyio task groups wrap what went wrong)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _clean_error(inner)]
    return [error]


class _StatusRecorder:
    """Remembers the last HTTP status the server answered (the SDK hides it in its errors)."""

    def __init__(self) -> None:
        self.status = 0

    async def __call__(self, response: httpx2.Response) -> None:
        self.status = response.status_code


def describe_failure(error: BaseException, status: int, timeout: float) -> str:
    """A message a person (or the model) can act on for a failed MCP connection or call."""
    leaves = _clean_error(error)
    for leaf in leaves:
        if isinstance(leaf, ProviderAddressError):  # worded for provider base URLs
            return leaf.message.replace("a provider base URL can", "an MCP server URL can")
        if isinstance(leaf, ToolError):
            return leaf.message
    if status in (401, 403):
        return f"The MCP server refused the credentials (HTTP {status}): check the bearer token or headers."
    for leaf in leaves:
        if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
            return f"The MCP server did not answer within {timeout:g} seconds."
        if isinstance(leaf, httpx2.ConnectError | ConnectionError):
            return "Could not connect to the MCP server: it is unreachable (connection failed)."
    if status in (404, 405) or any(
        isinstance(leaf, MCPError) and "content type" in str(leaf).lower() for leaf in leaves
    ):
        return "That address does not answer as an MCP server (Streamable HTTP): check the URL."
    if status >= 400:
        return f"The MCP server answered with HTTP {status}."
    for leaf in leaves:
        if isinstance(leaf, MCPError):
            return f"The MCP server reported an error: {str(leaf)[:300]}"
    return f"The connection to the MCP server failed ({type(leaves[0]).__name__})."


@asynccontextmanager
async def connect(
    server: ServerSpec, *, read_seconds: float, recorder: _StatusRecorder
) -> AsyncIterator[Client]:
    """An initialised MCP client session for ``server``; closed on exit.

    Raises:
        ToolError: a stdio server while ``MCP_ALLOW_STDIO`` is off, or an unknown transport.
        Exception: whatever the connection raised (``describe_failure`` words it).
    """
    if server.transport == "stdio":
        if not get_settings().mcp_allow_stdio:
            raise ToolError(
                "stdio MCP servers are turned off on this GalaxyCo server "
                "(its operator can set MCP_ALLOW_STDIO=true)."
            )
        if not server.command:
            raise ToolError("This stdio MCP server has no command.")
        params = StdioServerParameters(command=server.command[0], args=list(server.command[1:]))
        async with Client(params, cache=None, read_timeout_seconds=read_seconds + _GRACE) as client:
            yield client
        return
    if server.transport != "http":
        raise ToolError(f"Unknown MCP transport {server.transport!r}.")
    http = httpx2.AsyncClient(
        transport=_CappedTransport(VettedTransport(provider="mcp"), MAX_RESPONSE_BYTES),
        headers=server.headers,
        timeout=httpx2.Timeout(read_seconds + _GRACE),
        trust_env=False,
        event_hooks={"response": [recorder]},
    )
    async with http:
        transport = streamable_http_client(server.url, http_client=http)
        async with Client(transport, cache=None, read_timeout_seconds=read_seconds + _GRACE) as client:
            yield client


async def list_server_tools(server: ServerSpec, *, seconds: float | None = None) -> list[ListedTool]:
    """Connect to ``server`` and list its tools (at most ``MAX_TOOLS_PER_SERVER``).

    Raises:
        ToolError: the connection or the listing failed; the message says why
            (refused address, unreachable, credentials refused, not MCP, timeout).
    """
    limit = get_settings().mcp_tool_timeout_seconds if seconds is None else seconds
    recorder = _StatusRecorder()
    try:
        async with asyncio.timeout(limit):
            async with connect(server, read_seconds=limit, recorder=recorder) as client:
                listed = await client.list_tools()
    except Exception as error:
        if not isinstance(error, ToolError | TimeoutError):
            log.info("MCP tool listing failed", extra={"mcp_server_id": server.id}, exc_info=True)
        raise ToolError(describe_failure(error, recorder.status, limit)) from None
    tools: list[ListedTool] = []
    for tool in listed.tools[:MAX_TOOLS_PER_SERVER]:
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        if (
            len(json.dumps(schema, default=str)) > MAX_SCHEMA_CHARS
            or schema.get("type", "object") != "object"
        ):
            schema = {"type": "object"}
        tools.append(
            ListedTool(
                name=str(tool.name)[:200],
                description=(tool.description or "")[:MAX_DESCRIPTION_CHARS],
                input_schema=schema,
            )
        )
    return tools


def result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: text blocks joined, other blocks named."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(getattr(block, "resource", None), "text"):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind or 'unknown'} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


class McpTool(Tool):
    """One tool of one MCP server, under the name the model sees."""

    max_result_chars = MAX_RESULT_CHARS

    def __init__(self, *, server: ServerSpec, listed: ListedTool, name: str) -> None:
        self.server = server
        self.tool_name = listed.name
        self.name = name
        self.description = listed.description or f"The {listed.name} tool of the MCP server {server.name}."
        self.parameters = listed.input_schema or {"type": "object"}
        self.timeout_seconds = get_settings().mcp_tool_timeout_seconds

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Call the tool on its server (a connection of its own).

        Raises:
            ToolError: the connection failed (the message says why).
        """
        data = {"mcp_server": self.server.name, "mcp_tool": self.tool_name}
        recorder = _StatusRecorder()
        try:
            async with connect(self.server, read_seconds=self.timeout_seconds, recorder=recorder) as client:
                result = await client.call_tool(self.tool_name, arguments)
        except ToolError:
            raise
        except Exception as error:
            log.info(
                "MCP tool call failed",
                extra={"mcp_server_id": self.server.id, "run_id": ctx.run_id},
                exc_info=True,
            )
            raise ToolError(describe_failure(error, recorder.status, self.timeout_seconds)) from None
        text = result_text(result)
        if getattr(result, "is_error", False):
            return ToolResult(
                content=text or f"The MCP tool {self.tool_name} failed without a message.",
                is_error=True,
                data={**data, "error": "mcp_tool_error"},
            )
        return ToolResult(content=text, data=data)


# ---------------------------------------------------------------- one run's tools


def server_spec(row: McpServer) -> ServerSpec:
    """The connection details of a stored server (decrypts its headers)."""
    headers: dict[str, str] = {}
    if row.headers_encrypted:
        headers = json.loads(crypto.decrypt(row.headers_encrypted, purpose=HEADERS_PURPOSE))
    return ServerSpec(
        id=row.id,
        name=row.name,
        transport=row.transport,
        url=row.url,
        command=tuple(row.command or ()),
        headers=headers,
    )


@dataclass(frozen=True, slots=True)
class AgentTools:
    """The tools of one run: a registry and the names the model is shown, in order.

    ``entries`` maps each name the model is shown to the ``agent.tools`` entry it came
    from (``"Local_tools__lookup"`` → ``"mcp:<server_id>:lookup"``; a built-in tool maps to
    itself), e.g. to match a call against the agent's ``approval_tools``.
    """

    registry: ToolRegistry
    names: tuple[str, ...]
    entries: dict[str, str] = field(default_factory=dict)


def agent_tools(workspace_id: str, entries: Iterable[str]) -> AgentTools:
    """Resolve an agent's tool entries for a run (blocking: reads the database once).

    Built-in names are kept as they are; each ``mcp:`` entry becomes an ``McpTool`` if its
    server is a live server of ``workspace_id`` that still lists the tool, and is left
    out otherwise (the model is not shown it, so a call to it is refused as not enabled).
    """
    wanted = list(dict.fromkeys(entries))
    builtin = [name for name in wanted if not name.startswith(ENTRY_PREFIX)]
    mcp = [parsed for name in wanted if (parsed := parse_entry(name)) is not None]
    tools = load_mcp_tools(workspace_id, mcp, taken=set(builtin)) if mcp else []
    registry = ToolRegistry([*(default_registry.get_tool(n) for n in sorted(default_registry.names)), *tools])
    entries = {name: name for name in builtin} | {t.name: entry_for(t.server.id, t.tool_name) for t in tools}
    return AgentTools(registry=registry, names=(*builtin, *(tool.name for tool in tools)), entries=entries)


def load_mcp_tools(workspace_id: str, wanted: Sequence[tuple[str, str]], *, taken: set[str]) -> list[McpTool]:
    """``McpTool``s for ``(server_id, tool_name)`` pairs of live servers of the workspace."""
    server_ids = sorted({server_id for server_id, _ in wanted})
    with session_scope() as session:
        rows = session.exec(
            select(McpServer).where(
                McpServer.workspace_id == workspace_id,
                col(McpServer.id).in_(server_ids),
                col(McpServer.deleted_at).is_(None),
            )
        ).all()
        servers = {row.id: (row, list(row.tools or [])) for row in rows}
    specs: dict[str, ServerSpec] = {}
    tools: list[McpTool] = []
    for server_id, tool_name in wanted:
        if server_id not in servers:
            continue
        row, listed = servers[server_id]
        found = next((t for t in listed if t.get("name") == tool_name), None)
        if found is None:
            continue
        if server_id not in specs:
            try:
                specs[server_id] = server_spec(row)
            except ValueError:  # headers made with another SECRET_KEY: unusable
                log.warning("MCP server headers cannot be decrypted", extra={"mcp_server_id": server_id})
                continue
        spec = specs[server_id]
        listed_tool = ListedTool(
            name=tool_name,
            description=str(found.get("description", "")),
            input_schema=dict(found.get("input_schema") or {"type": "object"}),
        )
        tools.append(McpTool(server=spec, listed=listed_tool, name=model_name(spec.name, tool_name, taken)))
    return tools
