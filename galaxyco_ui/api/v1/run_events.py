"""A run's events as the API shows them: the one mapping from the executor's own events.

``GET /runs/{id}/events`` (SSE), ``response_mode=streaming`` and ``blocking``, the
OpenAI-compatible endpoint and the webhook trigger all read runs through this module.

Events (``ApiEvent``): ``type``, ``data`` (a JSON object that always has ``run_id``) and
``id``, the event's cursor in the run's stream (the event bus id). Pass the last ``id``
seen as ``after`` (SSE: the ``Last-Event-ID`` header) to resume with no gap or repeat.

=============  ===========================================================================
type           data (besides ``run_id``)
=============  ===========================================================================
run.queued     ``status: "queued"``: the run waits for an executor
run.started    ``status: "running"``, ``agent_name`` (again when a waiting run resumes)
run.waiting_approval
               ``status: "waiting_approval"``, ``approval_id``, ``tool``, ``arguments``,
               ``expires_at``: a tool call waits for a person (``/approvals``); a decision
               sends ``run.queued`` (with ``approval_id`` and ``decision``), then the run
               resumes
text.delta     ``text`` (the next piece of the model's answer), ``step`` (model turn, 0-based)
tool.call      ``id``, ``name``, ``arguments`` (object), ``step``
tool.result    ``id``, ``name``, ``content`` (up to 4,000 characters), ``is_error``,
               ``data`` (object, e.g. search sources), ``duration_ms``, ``step``
usage          the run's totals so far: ``input_tokens``, ``output_tokens``,
               ``cost_usd`` (number, or null when a price is unknown)
error          ``message``: the run failed (sent just before its ``run.finished``), or the
               stream cannot go on (the run or the key's access is gone). It has no ``id``
               of its own: resuming after it replays it with the ``run.finished`` after it.
run.finished   the last event: ``status`` (succeeded, failed or cancelled), ``output``,
               ``error``, ``input_tokens``, ``output_tokens``, ``cost_usd``, ``duration_ms``
=============  ===========================================================================

The text of a run is its ``text.delta`` texts joined (a model turn that ends in tool calls
may say something first: ``step`` tells the turns apart); ``run.finished.output`` is the
final answer. A run whose live stream is gone (streams are kept a day after a run ends)
is told from its record instead: run.started, its tool calls and results, one text.delta
with the output, usage, (error,) run.finished, with ids ``s1``, ``s2``, …

Reading goes through ``services.runs.read_run_events``, which looks the run up in the
caller's workspace on every read; ``recheck`` (e.g. ``recheck_key(request)``) also
re-authenticates the caller every few seconds. When either fails the stream sends an
``error`` event and ends.

What other modules use: ``api_events(ctx, run_id, after)`` / ``follow_run(ctx, run, after)``
(await, then iterate; ``keepalive=`` adds ``ping`` events in silences), ``wait_for_run``
(the run once finished, or as it is at a deadline), ``sse_response`` (the SSE answer of an
event iterator), ``recheck_key(request)``, ``SSE_HEADERS`` and ``SSE_RESPONSE`` (OpenAPI).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import StreamingResponse

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import api_keys, runs
from galaxyco_ui.services.runs import RunEvent, RunView, StepView

RUN_QUEUED = "run.queued"
RUN_STARTED = "run.started"
RUN_WAITING = "run.waiting_approval"
TEXT_DELTA = "text.delta"
TOOL_CALL = "tool.call"
TOOL_RESULT = "tool.result"
USAGE = "usage"
ERROR = "error"
RUN_FINISHED = "run.finished"
PING = "ping"  # only with ``keepalive``; SSE sends it as the comment ``: ping``

LAST_EVENT_ID = "Last-Event-ID"
PING_SECONDS = 15.0
READ_WAIT_SECONDS = 5.0  # the longest one read blocks (the run's status is checked between)
RECHECK_SECONDS = 2.0  # how stale the caller's authentication may get while streaming
FINAL_GRACE_SECONDS = 1.0  # a finished run publishes its last event just after its update

SSE_MEDIA_TYPE = "text/event-stream"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Before OpenAPI 3.2 (itemSchema), a text/event-stream ``schema`` describes one event.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "RunEventMessage",
    "description": "One server-sent event of a run.",
    "properties": {
        "id": {"type": "string", "description": "The cursor: send it back as `Last-Event-ID`."},
        "event": {
            "type": "string",
            "enum": [RUN_QUEUED, RUN_STARTED, TEXT_DELTA, TOOL_CALL, TOOL_RESULT, USAGE, ERROR, RUN_FINISHED],
        },
        "data": {"type": "string", "description": "A JSON object; it always has `run_id`."},
    },
    "required": ["event", "data"],
}
SSE_CONTENT: dict[str, Any] = {SSE_MEDIA_TYPE: {"schema": SSE_EVENT_SCHEMA}}
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `id: <cursor>`, `event: <type>`, `data: <JSON>`; "
        "a `: ping` comment every 15 s; the stream ends after `run.finished`.",
        "content": SSE_CONTENT,
    }
}

# A cursor we handed out: a bus id ("42" in-process, "1700000000000-0" Redis) or "s<n>".
_CURSOR = re.compile(r"(?:\d{1,19}(?:-\d{1,19})?|s\d{1,6})")  # 19 digits fit a Redis id part
_ACTIVE = frozenset(runs.UNFINISHED)  # a waiting run's stream goes on: it resumes when decided

Recheck = Callable[[], Awaitable[TenantContext]]


@dataclass(frozen=True, slots=True)
class ApiEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def sse(self) -> bytes:
        """The event in the ``text/event-stream`` format."""
        if self.type == PING:
            return b": ping\n\n"
        head = f"id: {self.id}\n" if self.id else ""
        data = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"), default=str)
        return f"{head}event: {self.type}\ndata: {data}\n\n".encode()


async def api_events(
    ctx: TenantContext,
    run_id: str,
    after: str = "",
    *,
    recheck: Recheck | None = None,
    keepalive: float | None = None,
) -> AsyncIterator[ApiEvent]:
    """Replay a run's events after ``after``, then follow it until ``run.finished``.

    Await it, then iterate: ``async for event in await api_events(ctx, run_id):``. The
    checks happen in the await, before any event, so a route can still answer an error.

    Args:
        after: the last event id the client has ("" for all).
        recheck: called every ``RECHECK_SECONDS`` for a fresh context; a ``GalaxyError``
            from it ends the stream.
        keepalive: seconds of silence after which a ``ping`` event is yielded (None: never).

    Raises:
        NotFoundError: no such run in this workspace.
        ValidationError: ``after`` is not a cursor this API hands out (field Last-Event-ID).
    """
    run = await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)
    return await follow_run(ctx, run, after, recheck=recheck, keepalive=keepalive)


async def follow_run(
    ctx: TenantContext,
    run: RunView,
    after: str = "",
    *,
    recheck: Recheck | None = None,
    keepalive: float | None = None,
) -> AsyncIterator[ApiEvent]:
    """``api_events`` for a run the caller has just read (or started): no second lookup."""
    if after and not _CURSOR.fullmatch(after):
        raise ValidationError({LAST_EVENT_ID: "Send the id of an event of this run's stream."})
    bus_after = after if after and not after.startswith("s") else None
    try:
        first = await runs.read_run_events(ctx=ctx, run_id=run.id, after=bus_after)
    except ValueError as exc:  # a cursor of the other event bus's shape
        raise ValidationError({LAST_EVENT_ID: "Send the id of an event of this run's stream."}) from exc
    return _follow(ctx, run, after, first, recheck, keepalive)


async def wait_for_run(ctx: TenantContext, run_id: str, *, within: float) -> RunView:
    """The run once it has finished, or as it is after ``within`` seconds.

    Follows the run's events (no polling of the database); ``status`` tells which.

    Raises:
        NotFoundError: no such run in this workspace.
    """
    try:
        async with asyncio.timeout(max(0.0, within)):
            events = await api_events(ctx, run_id)
            async with aclosing(events):  # type: ignore[type-var]  # an async generator
                async for event in events:
                    if event.type == RUN_FINISHED:
                        break
    except TimeoutError:
        pass
    return await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)


def recheck_key(request: Request) -> Recheck | None:
    """A ``recheck`` that authenticates the request's API key again (a revoked key stops)."""
    scheme, secret = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not secret:
        return None
    ip = request.client.host if request.client else ""

    async def recheck() -> TenantContext:
        return await asyncio.to_thread(api_keys.authenticate_api_key, secret, ip=ip)

    return recheck


async def sse_bytes(events: AsyncIterator[ApiEvent]) -> AsyncIterator[bytes]:
    """Each event as SSE bytes; the iterator is closed when the client goes away."""
    async with aclosing(events):  # type: ignore[type-var]  # an async generator
        async for event in events:
            yield event.sse()


def sse_response(
    events: AsyncIterator[ApiEvent], *, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """A ``text/event-stream`` response of ``events`` (no caching, no proxy buffering)."""
    return StreamingResponse(
        sse_bytes(events), media_type=SSE_MEDIA_TYPE, headers={**SSE_HEADERS, **(headers or {})}
    )


# ---------------------------------------------------------------- following


async def _follow(
    ctx: TenantContext,
    run: RunView,
    after: str,
    batch: list[RunEvent],
    recheck: Recheck | None,
    keepalive: float | None,
) -> AsyncIterator[ApiEvent]:
    loop = asyncio.get_running_loop()
    run_id = run.id
    bus_after = after if after and not after.startswith("s") else None
    sent_any = False  # whether this connection has sent an event of the run
    last_sent = checked = loop.time()
    ended_at: float | None = None  # when the run was first seen finished with nothing new
    while True:
        if batch:
            ended_at = None
            for event in batch:
                try:
                    translated = await _translate(ctx, run_id, event)
                except GalaxyError as exc:
                    yield _error(run_id, exc.message)
                    return
                for api_event in translated:
                    yield api_event
                    sent_any, last_sent = True, loop.time()
                    if api_event.type == RUN_FINISHED:
                        return
                if event.type == "status" and event.data.get("status") not in _ACTIVE:
                    return  # the final status follows "final": this client had run.finished
                bus_after = event.id
        else:
            try:
                run = await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)
            except GalaxyError as exc:
                yield _error(run_id, exc.message)
                return
            if run.status not in _ACTIVE:
                gone = bus_after is None or not await runs.read_run_events(ctx=ctx, run_id=run_id, after=None)
                now = loop.time()
                if gone or (ended_at is not None and now - ended_at >= FINAL_GRACE_SECONDS):
                    try:
                        owed = await _ending(ctx, run, after, bus_after, gone=gone, sent_any=sent_any)
                    except GalaxyError as exc:
                        owed = [_error(run_id, exc.message)]
                    for api_event in owed:
                        yield api_event
                    return
                ended_at = ended_at if ended_at is not None else now
        now = loop.time()
        if keepalive is not None and now - last_sent >= keepalive:
            yield ApiEvent(PING)
            last_sent = now
        if recheck is not None and now - checked >= RECHECK_SECONDS:
            try:
                ctx = await recheck()
            except GalaxyError as exc:
                yield _error(run_id, exc.message)
                return
            checked = loop.time()
        wait = READ_WAIT_SECONDS if ended_at is None else FINAL_GRACE_SECONDS / 4
        if keepalive is not None:
            wait = max(0.01, min(wait, keepalive - (now - last_sent)))
        if recheck is not None:
            wait = min(wait, RECHECK_SECONDS)
        try:
            batch = await runs.read_run_events(ctx=ctx, run_id=run_id, after=bus_after, wait=wait)
        except GalaxyError as exc:
            yield _error(run_id, exc.message)
            return


async def _ending(
    ctx: TenantContext, run: RunView, after: str, bus_after: str | None, *, gone: bool, sent_any: bool
) -> list[ApiEvent]:
    """What a finished run still owes this client when its stream has nothing more."""
    if gone and bus_after is None:  # an old run: tell it from its record
        steps = await asyncio.to_thread(runs.get_steps, ctx=ctx, run_id=run.id)
        told = _from_record(run, steps)
        skip = int(after[1:]) if after.startswith("s") else 0
        return [e for i, e in enumerate(told) if _number(e.id or told[i + 1].id) > skip]
    if after and not sent_any and not gone:
        return []  # the client resumed after the end: it has everything
    return _finished(run, event_id="")


def _number(synthetic_id: str) -> int:
    return int(synthetic_id[1:])


# ---------------------------------------------------------------- the mapping


async def _translate(ctx: TenantContext, run_id: str, event: RunEvent) -> list[ApiEvent]:
    """The API events for one internal event (none for internal bookkeeping)."""
    data = event.data
    if event.type == "status":
        status = data.get("status")
        if status == "queued":
            queued = {"run_id": run_id, "status": "queued"}
            if data.get("approval_id"):  # re-queued by a decision on a waiting call
                queued |= {"approval_id": data["approval_id"], "decision": data.get("decision", "")}
            return [ApiEvent(RUN_QUEUED, queued, event.id)]
        if status == "running":
            started = {"run_id": run_id, "status": "running", "agent_name": data.get("agent_name", "")}
            return [ApiEvent(RUN_STARTED, started, event.id)]
        if status == "waiting_approval":
            waiting = {
                "run_id": run_id,
                "status": "waiting_approval",
                "approval_id": data.get("approval_id", ""),
                "tool": data.get("tool", ""),
                "arguments": data.get("arguments") or {},
                "expires_at": data.get("expires_at", ""),
            }
            return [ApiEvent(RUN_WAITING, waiting, event.id)]
        return []  # a terminal status follows "final", which ends the stream
    if event.type == "text":
        delta = {"run_id": run_id, "text": data.get("delta", ""), "step": data.get("step", -1)}
        return [ApiEvent(TEXT_DELTA, delta, event.id)]
    if event.type == "tool_call":
        return [ApiEvent(TOOL_CALL, _tool_call(run_id, data, data.get("step", -1)), event.id)]
    if event.type == "tool_result":
        result = _tool_result(
            run_id,
            data,
            content=data.get("content", ""),
            extra=data.get("data") or {},
            duration_ms=data.get("duration_ms", 0),
            step=data.get("step", -1),
        )
        return [ApiEvent(TOOL_RESULT, result, event.id)]
    if event.type == "usage":
        return [ApiEvent(USAGE, _usage(run_id, data), event.id)]
    if event.type == "final":
        # The run's record was updated before this event: it is the whole truth.
        run = await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)
        duration = data.get("duration_ms")
        return _finished(run, event_id=event.id, duration_ms=duration if isinstance(duration, int) else None)
    return []


def _tool_call(run_id: str, data: dict[str, Any], step: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "id": data.get("id", ""),
        "name": data.get("name", ""),
        "arguments": data.get("arguments", {}),
        "step": step,
    }


def _tool_result(
    run_id: str, data: dict[str, Any], *, content: str, extra: dict[str, Any], duration_ms: int, step: int
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "id": data.get("id", ""),
        "name": data.get("name", ""),
        "content": content,
        "is_error": bool(data.get("is_error")),
        "data": extra,
        "duration_ms": duration_ms,
        "step": step,
    }


def _usage(run_id: str, data: dict[str, Any]) -> dict[str, Any]:
    cost = data.get("cost_usd")
    return {
        "run_id": run_id,
        "input_tokens": int(data.get("input_tokens") or 0),
        "output_tokens": int(data.get("output_tokens") or 0),
        "cost_usd": float(cost) if cost is not None else None,
    }


def _error(run_id: str, message: str) -> ApiEvent:
    return ApiEvent(ERROR, {"run_id": run_id, "message": message})


def _finished(run: RunView, *, event_id: str, duration_ms: int | None = None) -> list[ApiEvent]:
    """``run.finished`` from the run's record, after an ``error`` if it failed."""
    finished = ApiEvent(
        RUN_FINISHED,
        {
            "run_id": run.id,
            "status": run.status,
            "output": run.output,
            "error": run.error,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "cost_usd": run.cost_usd,
            "duration_ms": duration_ms if duration_ms is not None else run.duration_ms,
        },
        event_id,
    )
    if run.status == "failed":
        return [_error(run.id, run.error or "The run failed."), finished]
    return [finished]


def _from_record(run: RunView, steps: list[StepView]) -> list[ApiEvent]:
    """A finished run's events told from its record: its live stream is gone."""
    told: list[ApiEvent] = []
    if run.started_at is not None:
        told.append(
            ApiEvent(RUN_STARTED, {"run_id": run.id, "status": "running", "agent_name": run.agent_name})
        )
    step = -1
    for item in steps:
        if item.kind == "model":
            step += 1
        elif item.kind == "tool_call":
            told.append(ApiEvent(TOOL_CALL, _tool_call(run.id, item.data, step)))
        elif item.kind == "tool_result":
            extra = {k: v for k, v in item.data.items() if k not in ("id", "name", "is_error")}
            result = _tool_result(
                run.id, item.data, content=item.content, extra=extra, duration_ms=item.duration_ms, step=step
            )
            told.append(ApiEvent(TOOL_RESULT, result))
    if run.output:
        told.append(ApiEvent(TEXT_DELTA, {"run_id": run.id, "text": run.output, "step": max(step, 0)}))
    if run.started_at is not None:
        totals = {
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "cost_usd": run.cost_usd,
        }
        told.append(ApiEvent(USAGE, {"run_id": run.id, **totals}))
    events: list[ApiEvent] = []
    number = 0
    for event in [*told, *_finished(run, event_id="")]:
        if event.type == ERROR:  # no id of its own: it goes with the run.finished after it
            events.append(event)
            continue
        number += 1
        events.append(ApiEvent(event.type, event.data, f"s{number}"))
    return events
