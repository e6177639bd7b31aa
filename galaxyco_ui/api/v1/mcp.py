"""``/api/v1/mcp``: GalaxyCo as an MCP server over Streamable HTTP.

Point an MCP client (Claude Desktop, Cursor, the ``mcp`` SDK's ``Client``) at
``<PUBLIC_URL>/api/v1/mcp`` with ``Authorization: Bearer gx_…``. The key is checked, and
its per-minute rate limit counted, on every HTTP request like any ``/api/v1`` call; a
missing or bad key is a 401 problem before any MCP message is read.

Tools (``services/mcp_endpoint.py`` names and lists them):

* one per agent the key may run (none for viewer keys), input ``{"input": string}``:
  the call starts a run (trigger ``mcp``, live on /runs, counted by the run limits and
  budgets, acting as the key) and answers with the run's final answer as text. While it
  streams, a client that sent a ``progressToken`` gets ``notifications/progress`` whose
  message is the text so far (its last ``PROGRESS_TAIL_CHARS`` characters) or the tool
  being called. A failed or cancelled run, or one that could not start (a limit, a
  budget, bad input), is a result with ``isError`` and the reason. The run's id is in
  the result's ``_meta`` (``galaxyco/run_id``). A client that cancels the call or goes
  away cancels the run.
* ``knowledge_search`` (``query``, optional ``collection``, ``top_k`` ≤ 20): numbered
  passages with their document names, plain text.

The server is stateless (no ``Mcp-Session-Id``): each POST is served on its own, by any
app process, which suits several backend workers behind a load balancer. Clients of the
handshake era (protocol 2025-11-25 and before) and of the per-request era (2026-07-28)
are both served. A ``StreamableHTTPSessionManager`` lives for one request: its task
group then needs no application lifespan (Reflex's and the tests' servers run none for
mounted apps), and a request that ends takes every task it started with it.

Not in the OpenAPI document: it is JSON-RPC with its own schema (the MCP specification),
which an OpenAPI operation cannot describe; ``test_mcp_server.py`` checks its auth.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from galaxyco_ui.api.v1.deps import request_context
from galaxyco_ui.api.v1.problems import problem, problem_for
from galaxyco_ui.api.v1.run_events import (
    ERROR,
    PING,
    RUN_FINISHED,
    RUN_STARTED,
    RUN_WAITING,
    TEXT_DELTA,
    TOOL_CALL,
    Recheck,
    follow_run,
    recheck_key,
)
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError, PermissionDeniedError
from galaxyco_ui.services import mcp_endpoint, runs
from galaxyco_ui.services.mcp_endpoint import KNOWLEDGE_SEARCH, McpToolView
from galaxyco_ui.services.runs import RunView

log = logging.getLogger(__name__)
# The per-request session manager says "started" and "shutting down" at INFO each time.
logging.getLogger("mcp.server.streamable_http_manager").setLevel(logging.WARNING)

PATH = "/mcp"
RUN_ID_META = "galaxyco/run_id"
PROGRESS_TAIL_CHARS = 2_000
PROGRESS_EVERY_SECONDS = 0.25  # at most four text updates a second per call
KEEP_ALIVE_SECONDS = 15.0  # a progress notification at least this often while the run is silent
MAX_BODY_BYTES = 2 * 1024 * 1024  # as the other /api/v1 JSON bodies
_CALLER = "galaxyco_mcp_caller"  # the key's context, in the request scope's state

INSTRUCTIONS = (
    "Each agent tool runs a GalaxyCo agent on the input you give and returns its final answer; "
    "knowledge_search returns passages from the workspace's documents."
)


@dataclass(frozen=True, slots=True)
class _Caller:
    ctx: TenantContext
    recheck: Recheck | None


class McpEndpoint:
    """The ASGI endpoint: authenticate, then hand the request to the MCP SDK."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            ctx = await request_context(request)
        except GalaxyError as exc:
            await problem_for(exc)(scope, receive, send)
            return
        if scope["method"] != "POST":
            # Stateless: no session to DELETE, and nothing would ever be sent on a GET stream
            # (the SDK would hold it open until the client leaves). The spec's answer is 405.
            detail = "This MCP server is stateless: send each JSON-RPC message as a POST."
            await problem(405, detail, headers={"Allow": "POST"})(scope, receive, send)
            return
        scope.setdefault("state", {})[_CALLER] = _Caller(ctx, recheck_key(request))
        manager = StreamableHTTPSessionManager(
            app=SERVER, stateless=True, max_request_body_size=MAX_BODY_BYTES
        )
        async with manager.run():
            await manager.handle_request(scope, receive, send)


def _caller(ctx: ServerRequestContext[Any, Any]) -> _Caller:
    request = ctx.request
    caller = request.scope.get("state", {}).get(_CALLER) if isinstance(request, Request) else None
    if not isinstance(caller, _Caller):  # only McpEndpoint serves SERVER
        raise RuntimeError("An MCP request reached the server without passing McpEndpoint.")
    return caller


# ---------------------------------------------------------------- handlers


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], _params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    caller = _caller(ctx)
    tools = await asyncio.to_thread(mcp_endpoint.list_mcp_tools, ctx=caller.ctx)
    return types.ListToolsResult(tools=[_tool(tool) for tool in tools])


def _tool(tool: McpToolView) -> types.Tool:
    is_search = tool.agent_id is None
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=types.ToolAnnotations(
            title=tool.title, read_only_hint=is_search, destructive_hint=False, open_world_hint=not is_search
        ),
    )


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    caller = _caller(ctx)
    arguments = params.arguments or {}
    if params.name == KNOWLEDGE_SEARCH:
        try:
            text = await mcp_endpoint.search_knowledge_text(
                ctx=caller.ctx,
                query=arguments.get("query"),
                collection=arguments.get("collection"),
                top_k=arguments.get("top_k"),
            )
        except GalaxyError as exc:
            return _error(exc.message)
        return _text(text)
    try:
        tool = await asyncio.to_thread(mcp_endpoint.find_agent_tool, ctx=caller.ctx, name=params.name)
        task = arguments.get("input")
        if not isinstance(task, str):
            return _error('Give the agent its task as a string: {"input": "…"}.')
        assert tool.agent_id is not None
        run = await runs.start_run(ctx=caller.ctx, agent_id=tool.agent_id, input=task, trigger="mcp")
    except PermissionDeniedError:
        return _error("This API key's role (viewer) may not run agents.")
    except GalaxyError as exc:
        return _error(exc.message)
    return await _answer(ctx, caller, run)


# ---------------------------------------------------------------- following a run


async def _answer(ctx: ServerRequestContext[Any, Any], caller: _Caller, run: RunView) -> types.CallToolResult:
    """Follow the run to its end, reporting progress; cancel it if the call is abandoned."""
    progress = _Progress(ctx)
    finished: dict[str, Any] | None = None
    error = ""
    # No deadline of our own: the executor's wall clock ends a running run, its approval
    # timeout a waiting one, the lost-worker sweep one whose worker died; the events end with it.
    try:
        events = await follow_run(caller.ctx, run, recheck=caller.recheck, keepalive=KEEP_ALIVE_SECONDS)
        async with aclosing(events):  # type: ignore[type-var]  # an async generator
            async for event in events:
                if event.type == TEXT_DELTA:
                    await progress.text(str(event.data.get("text", "")), event.data.get("step"))
                elif event.type == TOOL_CALL:
                    await progress.say(f"Calling the tool {event.data.get('name', '')}…")
                elif event.type == RUN_STARTED:
                    await progress.say(f"Running {event.data.get('agent_name') or 'the agent'}…")
                elif event.type == RUN_WAITING:
                    await progress.say(
                        f"Waiting for a person to approve the tool {event.data.get('tool', '')}…"
                    )
                elif event.type == PING:  # a silence (e.g. waiting for an approval): say it again
                    await progress.again()
                elif event.type == ERROR:
                    error = str(event.data.get("message", ""))
                elif event.type == RUN_FINISHED:
                    finished = event.data
    except GalaxyError as exc:  # the run could not be read
        await _cancel(caller.ctx, run.id, "unreadable")
        return _error(exc.message, run.id)
    except BaseException:  # the client cancelled the call or went away
        await _cancel(caller.ctx, run.id, "call abandoned")
        raise
    if finished is None:  # the stream ended early (e.g. the key was revoked)
        await _cancel(caller.ctx, run.id, "stream lost")
        return _error(error or "The run could not be followed to its end.", run.id)
    if finished.get("status") != "succeeded":
        reason = str(finished.get("error") or error or f"The run ended {finished.get('status')}.")
        return _error(reason, run.id)
    return _text(str(finished.get("output") or ""), run.id)


class _Progress:
    """``notifications/progress`` for one call (nothing unless the client sent a token)."""

    def __init__(self, ctx: ServerRequestContext[Any, Any]) -> None:
        self.ctx = ctx
        self.count = 0
        self.parts: list[str] = []
        self.last_step = -1
        self.sent_at = 0.0
        self.last = ""

    async def text(self, delta: str, step: object) -> None:
        step = step if isinstance(step, int) else -1
        # A later model turn (after a tool call) starts a new paragraph; -1 is a late flush.
        if step > self.last_step >= 0 and self.parts:
            self.parts.append("\n\n")
        self.last_step = max(self.last_step, step)
        self.parts.append(delta)
        if time.monotonic() - self.sent_at >= PROGRESS_EVERY_SECONDS:
            so_far = "".join(self.parts)
            self.parts = [so_far]
            tail = so_far if len(so_far) <= PROGRESS_TAIL_CHARS else "…" + so_far[-PROGRESS_TAIL_CHARS:]
            await self.say(tail)

    async def say(self, message: str) -> None:
        self.count += 1
        self.sent_at = time.monotonic()
        self.last = message
        await self.ctx.session.report_progress(self.count, None, message)

    async def again(self) -> None:
        if self.last:
            await self.say(self.last)


async def _cancel(ctx: TenantContext, run_id: str, why: str) -> None:
    """Cancel the run unless it has finished; never raises (the call is already over)."""
    with anyio.CancelScope(shield=True):
        try:
            run = await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)
            if run.status in runs.UNFINISHED:
                await runs.cancel_run(ctx=ctx, run_id=run_id)
                log.info("mcp.run_cancelled", extra={"run_id": run_id, "reason": why})
        except Exception:
            log.exception("mcp.cancel_failed", extra={"run_id": run_id})


def _text(text: str, run_id: str | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], meta={RUN_ID_META: run_id} if run_id else None
    )


def _error(message: str, run_id: str | None = None) -> types.CallToolResult:
    result = _text(message, run_id)
    result.is_error = True
    return result


SERVER: Server[Any] = Server(
    "GalaxyCo",
    version="1",
    instructions=INSTRUCTIONS,
    on_list_tools=_list_tools,
    on_call_tool=_call_tool,
)
