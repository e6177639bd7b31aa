"""The agent executor: stream the model, run its tool calls, loop, and always finish the run.

``execute_run(run_id)`` is the whole life of one run after it leaves the queue:

1. claim it (queued → running; a run that is not queued is left alone: idempotent);
2. loop up to the agent's ``max_steps``: stream one model turn (text deltas published
   in ~50 ms batches), persist it, run the tool calls it asked for, persist those;
   A tool call is run only if the tool is one of the agent's (the tools the model was
   shown): any other name gets an error result the model sees, recorded like any result;
3. stop on a final answer, a cancel signal (polled every 200 ms), the wall-clock timeout,
   the run's token budget, a monthly budget of its workspace, agent or member reached
   (checked after each model turn when one applies: ``runs/budgets.py``), or an error —
   and put the run in a terminal state with a message a person can act on.

No database transaction is open while the provider streams: every store call is a
short transaction of its own, run in a worker thread.

``execute_run`` is the job ``execute_run_job`` (``jobs.registry``); ``enqueue_run`` hands a
run to the configured queue and ``abort_run`` takes it back out of a SAQ queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from galaxyco_ui import notifications
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra import metrics, tracing
from galaxyco_ui.jobs import RUNS_POOL, get_job_queue, job
from galaxyco_ui.providers.base import (
    ChatProvider,
    ChatRequest,
    Finish,
    Message,
    ProviderConfig,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.pricing import cost_usd
from galaxyco_ui.providers.retry import stream_with_retries
from galaxyco_ui.runs import heartbeats, store
from galaxyco_ui.runs.budgets import announce_alerts
from galaxyco_ui.runs.events import EventBus, get_event_bus, run_stream, workspace_stream
from galaxyco_ui.runs.signals import CancelSignals, get_cancel_signals
from galaxyco_ui.tools.base import ToolContext, ToolResult
from galaxyco_ui.tools.mcp_client import agent_tools
from galaxyco_ui.tools.registry import ToolRegistry
from galaxyco_ui.webhooks.events import enqueue_deliveries

log = logging.getLogger("galaxyco.runs")

PUBLISH_INTERVAL = 0.05
CANCEL_POLL_INTERVAL = 0.2
TOOL_RESULT_EVENT_CHARS = 4000
TOOL_NAME_SHOWN_CHARS = 100  # a tool name comes from the model: never echo an essay back


class RunCancelled(Exception):
    pass


class RunLimitReached(Exception):
    pass


@dataclass
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = Decimal(0)
    known_cost: bool = True

    def add(self, provider: str, model: str, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        price = cost_usd(provider, model, usage)
        metrics.tokens(provider, usage.input_tokens, usage.output_tokens)
        metrics.cost(provider, price)
        if price is None:
            self.known_cost = False
        elif self.cost is not None:
            self.cost += price

    @property
    def cost_or_unknown(self) -> Decimal | None:
        return self.cost if self.known_cost else None

    def as_event(self) -> dict[str, Any]:
        cost = self.cost_or_unknown
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if cost is None else str(cost),
        }


class Publisher:
    """Publishes a run's events, batching text deltas to ~20 per second.

    Events are for live viewers: an event the bus cannot take (Redis restarting) is
    dropped and the run goes on; its steps and ending are in the database, which every
    page loads first.
    """

    def __init__(self, bus: EventBus, run_id: str, workspace_id: str) -> None:
        self.bus, self.run_id, self.workspace_id = bus, run_id, workspace_id
        self.stream = run_stream(run_id)
        self._pending = ""
        self._last_flush = 0.0
        self._dropped = 0

    async def _publish(self, stream: str, type: str, data: dict[str, Any]) -> None:
        try:
            await self.bus.publish(stream, type, data)
        except Exception:
            self._dropped += 1
            if self._dropped == 1:  # once per run: a bus outage would repeat it per token
                log.warning(
                    "run event dropped: the event bus failed", extra={"run_id": self.run_id}, exc_info=True
                )

    async def emit(self, type: str, **data: Any) -> None:
        await self.flush()
        await self._publish(self.stream, type, data)

    async def text(self, delta: str, step: int) -> None:
        self._pending += delta
        now = time.monotonic()
        if now - self._last_flush >= PUBLISH_INTERVAL:
            await self._send_text(step)

    async def flush(self, step: int = -1) -> None:
        if self._pending:
            await self._send_text(step)

    async def _send_text(self, step: int) -> None:
        delta, self._pending = self._pending, ""
        self._last_flush = time.monotonic()
        await self._publish(self.stream, "text", {"delta": delta, "step": step})

    async def status(self, status: str, **extra: Any) -> None:
        await self.emit("status", status=status, **extra)
        await self._publish(
            workspace_stream(self.workspace_id), "run", {"run_id": self.run_id, "status": status, **extra}
        )


RUN_JOB = "execute_run_job"
ProviderFactory = Callable[[ProviderConfig], ChatProvider]  # tests pass a fake provider


def _run_job_options() -> dict[str, Any]:
    settings = get_settings()
    return {
        "timeout": settings.run_timeout_seconds + 60,
        "heartbeat": settings.worker_lost_after_seconds,
        "retries": 1,  # never re-executes a started run: the executor skips non-queued runs
    }


async def enqueue_run(run_id: str) -> None:
    """Queue a run (the run must be ``queued``); a duplicate is harmless: the claim lets one through."""
    await get_job_queue().enqueue(RUN_JOB, key=run_id, run_id=run_id)


async def abort_run(run_id: str) -> None:
    """Take a run's job out of the queue (SAQ); the executor itself stops on the cancel signal."""
    await get_job_queue().abort(run_id)


@job(RUN_JOB, pool=RUNS_POOL, options=_run_job_options)
@tracing.run_traced  # a trace per run when tracing is on; its id goes on the run and its log lines
async def execute_run(
    run_id: str,
    *,
    bus: EventBus | None = None,
    signals: CancelSignals | None = None,
    provider_factory: ProviderFactory = make_provider,
) -> str | None:
    """Run one queued run to a terminal state. Returns that state, or None if not queued."""
    claimed = await asyncio.to_thread(store.claim_run, run_id, trace_id=tracing.current_trace_id())
    if claimed is None:
        log.info("run not claimable, skipping", extra={"run_id": run_id})
        return None
    snap = claimed.snapshot
    tracing.annotate_run(
        workspace_id=claimed.workspace_id,
        agent_id=claimed.agent_id,
        provider=snap.get("provider"),
        model=snap.get("model"),
    )
    bus = bus or get_event_bus()
    signals = signals or get_cancel_signals()
    publisher = Publisher(bus, run_id, claimed.workspace_id)
    settings = get_settings()
    totals = Totals()
    started = time.monotonic()
    await publisher.status("running", agent_name=claimed.snapshot.get("name", ""))

    status, output, error = "failed", "", ""
    work = asyncio.ensure_future(_agent_loop(claimed, publisher, totals, provider_factory))
    watcher = asyncio.ensure_future(_watch(run_id, signals, work))
    try:
        async with asyncio.timeout(settings.run_timeout_seconds):
            output = await work
        status = "succeeded"
    except asyncio.CancelledError:
        if not watcher.done() or not watcher.result():
            error = "The server shut down while this run was in progress. Retry it."
            raise  # we are being shut down, not cancelled by a user
        status, error = "cancelled", "Cancelled by a user."
    except TimeoutError:
        error = f"The run took longer than {settings.run_timeout_seconds} seconds and was stopped."
    except RunLimitReached as exc:
        error = str(exc)
    except ProviderError as exc:
        error = exc.message
    except Exception:
        log.exception("run failed unexpectedly", extra={"run_id": run_id})
        error = f"GalaxyCo hit an internal error running this agent (run {run_id}). It has been logged."
    finally:
        watcher.cancel()
        if not work.done():
            work.cancel()
        await publisher.flush()
        finished = await asyncio.to_thread(
            store.finish_run,
            run_id,
            status=status,
            output=output,
            error=error,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_or_unknown,
        )
        if finished:
            duration_ms = int((time.monotonic() - started) * 1000)
            metrics.run_finished(status, duration_ms / 1000)
            await publisher.emit(
                "final",
                status=status,
                output=output,
                error=error,
                duration_ms=duration_ms,
                **totals.as_event(),
            )
            await publisher.status(status)
            await enqueue_deliveries(finished.webhook_deliveries)
            await notifications.announce(finished.notice)
        await bus.end(publisher.stream)
        await signals.clear(run_id)
    tracing.annotate_run(input_tokens=totals.input_tokens, output_tokens=totals.output_tokens)
    log.info("run finished", extra={"run_id": run_id, "workspace_id": claimed.workspace_id, "status": status})
    return status


async def _watch(run_id: str, signals: CancelSignals, work: asyncio.Future[str]) -> bool:
    """Poll the cancel signal and keep the run heartbeating (``runs.heartbeats``); cancel
    ``work`` when asked. True if it cancelled.

    A signal store that fails for a moment (a Redis restart) costs a poll, not the
    heartbeat: a watcher that died would leave a live run to be failed as lost.
    """
    with heartbeats.beating(run_id):
        while not work.done():
            try:
                requested = await signals.is_requested(run_id)
            except Exception:
                log.warning("cancel signal unreadable", extra={"run_id": run_id}, exc_info=True)
                requested = False
            if requested:
                work.cancel()
                return True
            await asyncio.sleep(CANCEL_POLL_INTERVAL)
    return False


async def _agent_loop(
    claimed: store.ClaimedRun, publisher: Publisher, totals: Totals, provider_factory: ProviderFactory
) -> str:
    snap = claimed.snapshot
    if claimed.provider is None:
        raise ProviderError(claimed.provider_problem)
    provider: ChatProvider = provider_factory(claimed.provider)
    messages: list[Message] = []
    collection_ids = tuple(snap.get("knowledge_collection_ids", []))
    tools = list(snap.get("tools", []))
    instructions = snap.get("instructions", "")
    if collection_ids:  # choosing collections gives the agent the search tool
        tools.append("knowledge_search")
    # MCP entries ("mcp:<server_id>:<tool>") join the built-in tools under model-safe
    # names (tools.mcp_client); the workspace's MCP servers are read once, here.
    toolbox = await asyncio.to_thread(agent_tools, claimed.workspace_id, tools)
    if tool_guidance := toolbox.registry.tool_instructions(toolbox.names):  # e.g. how to cite
        instructions = f"{instructions}\n\n{tool_guidance}".strip()
    if instructions:
        messages.append(Message(role="system", content=instructions))
    messages.append(Message(role="user", content=claimed.input))
    specs = toolbox.registry.tool_specs(toolbox.names)
    ctx = ToolContext(
        workspace_id=claimed.workspace_id,
        run_id=claimed.run_id,
        agent_id=claimed.agent_id,
        user_id=claimed.user_id,
        collection_ids=collection_ids,
    )
    max_tokens = get_settings().run_max_total_tokens
    try:
        for step in range(int(snap.get("max_steps", 8))):
            request = ChatRequest(
                model=snap["model"],
                messages=tuple(messages),
                tools=specs,
                temperature=float(snap.get("temperature", 0.7)),
                max_output_tokens=int(snap.get("max_output_tokens", 1024)),
            )
            text, calls = await _model_turn(provider, request, claimed, publisher, totals, step)
            messages.append(Message(role="assistant", content=text, tool_calls=tuple(calls)))
            if not calls:
                return text
            if totals.input_tokens + totals.output_tokens >= max_tokens:
                raise RunLimitReached(
                    f"The run used its token budget ({max_tokens:,} tokens) before finishing."
                )
            for call in calls:
                messages.append(
                    await _tool_turn(call, ctx, claimed, publisher, step, enabled=specs, tools=toolbox.registry)
                )
        raise RunLimitReached(
            f"The agent used all {snap.get('max_steps')} steps without a final answer. "
            "Raise “Max steps” on the agent or simplify the task."
        )
    finally:
        await provider.aclose()


async def _model_turn(
    provider: ChatProvider,
    request: ChatRequest,
    claimed: store.ClaimedRun,
    publisher: Publisher,
    totals: Totals,
    step: int,
) -> tuple[str, list[ToolCall]]:
    began = time.monotonic()
    parts: list[str] = []
    calls: list[ToolCall] = []
    usage: Usage | None = None
    finish = "other"
    provider_name = claimed.snapshot.get("provider", "")
    stream = stream_with_retries(provider, request, provider_name=provider_name)
    async for event in tracing.traced_stream(stream, provider=provider_name, model=request.model, step=step):
        if isinstance(event, TextDelta):
            parts.append(event.text)
            await publisher.text(event.text, step)
        elif isinstance(event, ToolCallEvent):
            calls.append(event.call)
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Finish):
            finish = event.reason
    await publisher.flush(step)
    config = claimed.provider
    if config is None:  # _agent_loop refuses such a run before its first turn
        raise ProviderError(claimed.provider_problem)
    if usage is not None:
        totals.add(config.provider, request.model, usage)
        await publisher.emit("usage", **totals.as_event())
    else:
        totals.known_cost = False
    text = "".join(parts)
    verdict = await asyncio.to_thread(
        store.append_model_step,
        claimed.run_id,
        claimed.workspace_id,
        content=text,
        data={
            "model": request.model,
            "finish_reason": finish,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            if usage
            else None,
        },
        duration_ms=int((time.monotonic() - began) * 1000),
        totals=store.RunningTotals(totals.input_tokens, totals.output_tokens, totals.cost_or_unknown),
        check_budgets=claimed.budgeted,
    )
    await announce_alerts(verdict.alerts)
    if verdict.over and calls:  # a final answer is kept: it is paid for and nothing follows it
        raise RunLimitReached(f"Budget reached: {verdict.over}")
    return text, calls


async def _tool_turn(
    call: ToolCall,
    ctx: ToolContext,
    claimed: store.ClaimedRun,
    publisher: Publisher,
    step: int,
    *,
    enabled: tuple[ToolSpec, ...],
    tools: ToolRegistry,
) -> Message:
    await publisher.emit("tool_call", id=call.id, name=call.name, arguments=call.arguments, step=step)
    await asyncio.to_thread(
        store.append_step,
        claimed.run_id,
        claimed.workspace_id,
        kind="tool_call",
        content=call.name,
        data={"id": call.id, "name": call.name, "arguments": call.arguments},
    )
    began = time.monotonic()
    names = [spec.name for spec in enabled]
    if call.name in names:
        result = await tools.run_tool(call.name, call.arguments, ctx)
    else:
        # The model saw only the agent's tools, but its output is hostile input (a prompt
        # injection can name any registered tool, e.g. http_request): never run it.
        result = _not_enabled(call.name, names)
    duration_ms = int((time.monotonic() - began) * 1000)
    await publisher.emit(
        "tool_result",
        id=call.id,
        name=call.name,
        content=result.content[:TOOL_RESULT_EVENT_CHARS],
        is_error=result.is_error,
        data=result.data,
        duration_ms=duration_ms,
        step=step,
    )
    await asyncio.to_thread(
        store.append_step,
        claimed.run_id,
        claimed.workspace_id,
        kind="tool_result",
        content=result.content,
        data={"id": call.id, "name": call.name, "is_error": result.is_error, **result.data},
        duration_ms=duration_ms,
    )
    return Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name)


def _not_enabled(name: str, enabled: list[str]) -> ToolResult:
    """The result a model gets for calling a tool its agent does not have."""
    shown = name if len(name) <= TOOL_NAME_SHOWN_CHARS else name[:TOOL_NAME_SHOWN_CHARS] + "…"
    available = ", ".join(enabled) if enabled else "none"
    return ToolResult(
        content=f"The tool {shown!r} is not enabled for this agent. Tools you may call: {available}.",
        is_error=True,
        data={"error": "tool_not_enabled"},
    )
