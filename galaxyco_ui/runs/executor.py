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
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
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
from galaxyco_ui.runs import approvals, heartbeats, store
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


class WaitingForApproval(Exception):
    """The run now waits for a person (``runs.approvals``); its job ends here."""

    def __init__(self, waiting: approvals.Waiting, call: ToolCall) -> None:
        super().__init__(waiting.approval_id)
        self.waiting, self.call = waiting, call


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


@dataclass
class Ending:
    """What the run's ending writes besides its state.

    ``last_turn``: a final answer's model turn, held back so that it and the run's terminal
    state are one transaction (``store.finish_run``) instead of two; only for a run without
    budgets, whose turns need no check (and no alerts) of their own.
    """

    last_turn: store.ModelTurn | None = None


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


async def enqueue_run(run_id: str, *, key: str = "") -> None:
    """Queue a run (the run must be ``queued``); a duplicate is harmless: the claim lets one through.

    ``key`` (default: the run id) names the job: a run resumed after an approval passes
    a fresh one, since SAQ ignores a key whose job is still running (the job that moved
    the run to waiting may not have returned yet).
    """
    await get_job_queue().enqueue(RUN_JOB, key=key or run_id, run_id=run_id)


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
    totals, ending = Totals(), Ending()
    if claimed.totals is not None:  # resumed after an approval
        totals.input_tokens, totals.output_tokens = claimed.totals.input_tokens, claimed.totals.output_tokens
        totals.cost = claimed.totals.cost_usd
        totals.known_cost = claimed.totals.cost_usd is not None
    started = time.monotonic()
    await publisher.status("running", agent_name=claimed.snapshot.get("name", ""))

    status, output, error = "failed", "", ""
    waiting: WaitingForApproval | None = None
    work = asyncio.ensure_future(_agent_loop(claimed, publisher, totals, ending, provider_factory, started))
    watcher = asyncio.ensure_future(_watch(run_id, signals, work))
    try:
        # The timeout counts executing time only: not the time spent waiting for approvals.
        async with asyncio.timeout(max(settings.run_timeout_seconds - claimed.active_seconds, 1.0)):
            output = await work
        status = "succeeded"
    except WaitingForApproval as exc:
        waiting = exc
    except RunCancelled:  # a cancel came as the run was about to wait for an approval
        status, error = "cancelled", "Cancelled by a user."
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
        if waiting is not None:
            await _announce_waiting(publisher, waiting)
        else:
            await _finish(
                run_id, publisher, signals, totals, ending, started, status=status, output=output, error=error
            )
    if waiting is not None:
        log.info("run waits for approval", extra={"run_id": run_id, "workspace_id": claimed.workspace_id})
        return "waiting_approval"
    tracing.annotate_run(input_tokens=totals.input_tokens, output_tokens=totals.output_tokens)
    log.info("run finished", extra={"run_id": run_id, "workspace_id": claimed.workspace_id, "status": status})
    return status


async def _finish(
    run_id: str,
    publisher: Publisher,
    signals: CancelSignals,
    totals: Totals,
    ending: Ending,
    started: float,
    *,
    status: str,
    output: str,
    error: str,
) -> None:
    """Put the run in its terminal state and tell its watchers, webhooks and notifications."""
    finished = await asyncio.to_thread(
        store.finish_run,
        run_id,
        status=status,
        output=output,
        error=error,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        cost_usd=totals.cost_or_unknown,
        last_turn=ending.last_turn,
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
    await publisher.bus.end(publisher.stream)
    await signals.clear(run_id)


async def _announce_waiting(publisher: Publisher, waiting: WaitingForApproval) -> None:
    """Tell the run's watchers (and the members who may decide) that a call waits for them."""
    call = waiting.call
    await publisher.status(
        "waiting_approval",
        approval_id=waiting.waiting.approval_id,
        tool=call.name,
        arguments=call.arguments,
        expires_at=waiting.waiting.expires_at_iso,
    )
    await notifications.announce(waiting.waiting.notice)


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
    claimed: store.ClaimedRun,
    publisher: Publisher,
    totals: Totals,
    ending: Ending,
    provider_factory: ProviderFactory,
    started: float,
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
    gate = _Gate(claimed, started, toolbox.entries)
    # A run resumed after an approval continues where it stopped: its conversation so far
    # from the persisted steps, then the rest of the calls of the turn that asked.
    first_step, pending = _replay(claimed.history, messages)
    try:
        for call, approval_id in pending:
            decision = claimed.decisions.get(approval_id) if approval_id else None
            messages.append(
                await _tool_turn(
                    call,
                    ctx,
                    claimed,
                    publisher,
                    first_step - 1,
                    enabled=specs,
                    tools=toolbox.registry,
                    gate=gate,
                    decided=decision,
                )
            )
        for step in range(first_step, int(snap.get("max_steps", 8))):
            request = ChatRequest(
                model=snap["model"],
                messages=tuple(messages),
                tools=specs,
                temperature=float(snap.get("temperature", 0.7)),
                max_output_tokens=int(snap.get("max_output_tokens", 1024)),
            )
            text, calls = await _model_turn(provider, request, claimed, publisher, totals, ending, step)
            messages.append(Message(role="assistant", content=text, tool_calls=tuple(calls)))
            if not calls:
                return text
            if totals.input_tokens + totals.output_tokens >= max_tokens:
                raise RunLimitReached(
                    f"The run used its token budget ({max_tokens:,} tokens) before finishing."
                )
            for call in calls:
                messages.append(
                    await _tool_turn(
                        call, ctx, claimed, publisher, step, enabled=specs, tools=toolbox.registry, gate=gate
                    )
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
    ending: Ending,
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
    turn = store.ModelTurn(
        content=text,
        data={
            "model": request.model,
            "finish_reason": finish,
            # ``signature``: Gemini 3's thought signature, sent back when the history is rebuilt.
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments}
                | ({"signature": c.signature} if c.signature else {})
                for c in calls
            ],
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            if usage
            else None,
        },
        duration_ms=int((time.monotonic() - began) * 1000),
    )
    if not calls and not claimed.budgeted:  # the final answer: written with the run's ending
        ending.last_turn = turn
        return text, calls
    verdict = await asyncio.to_thread(
        store.append_model_step,
        claimed.run_id,
        claimed.workspace_id,
        content=turn.content,
        data=turn.data,
        duration_ms=turn.duration_ms,
        totals=store.RunningTotals(totals.input_tokens, totals.output_tokens, totals.cost_or_unknown),
        check_budgets=claimed.budgeted,
    )
    await announce_alerts(verdict.alerts)
    if verdict.over and calls:  # a final answer is kept: it is paid for and nothing follows it
        raise RunLimitReached(f"Budget reached: {verdict.over}")
    return text, calls


class _Gate:
    """Which calls wait for a person, and moving the run to wait (``runs.approvals``)."""

    def __init__(self, claimed: store.ClaimedRun, started: float, entries: Mapping[str, str]) -> None:
        self.claimed, self.started = claimed, started
        self.tools = [str(t) for t in claimed.snapshot.get("approval_tools", [])]
        self.timeout = int(claimed.snapshot.get("approval_timeout_seconds", 3600))
        self.entries = entries  # the name the model calls → the agent's ``tools`` entry (MCP tools)

    def needs(self, call: ToolCall) -> bool:
        entry = self.entries.get(call.name, call.name)
        return bool(self.tools) and approvals.needs_approval(entry, call.arguments, self.tools)

    async def wait(self, call: ToolCall, data: dict[str, Any]) -> None:
        """Persist the call and its approval, move the run to waiting and stop the job."""
        active = self.claimed.active_seconds + time.monotonic() - self.started
        waiting = await asyncio.to_thread(
            approvals.request_approval,
            self.claimed.run_id,
            call=data,
            timeout_seconds=self.timeout,
            active_seconds=active,
        )
        if waiting is None:  # a cancel was requested (the run is no longer running)
            raise RunCancelled()
        raise WaitingForApproval(waiting, call)


def _replay(
    history: tuple[store.PastStep, ...], messages: list[Message]
) -> tuple[int, list[tuple[ToolCall, str]]]:
    """Append a resumed run's conversation to ``messages``.

    Returns the number of model turns taken and the calls of the last turn that have no
    result yet, each with the approval id its ``tool_call`` step asked for ("" if none).
    """
    turns = 0
    calls: list[ToolCall] = []
    asked: dict[str, str] = {}
    answered: set[str] = set()
    for past in history:
        if past.kind == "model":
            turns += 1
            calls = [_stored_call(d) for d in past.data.get("tool_calls") or []]
            asked, answered = {}, set()
            messages.append(Message(role="assistant", content=past.content, tool_calls=tuple(calls)))
        elif past.kind == "tool_call" and past.data.get("approval_id"):
            asked[str(past.data.get("id", ""))] = str(past.data["approval_id"])
        elif past.kind == "tool_result":
            call_id = str(past.data.get("id", ""))
            answered.add(call_id)
            messages.append(
                Message(
                    role="tool",
                    content=past.content,
                    tool_call_id=call_id,
                    name=str(past.data.get("name", "")),
                )
            )
    return turns, [(c, asked.get(c.id, "")) for c in calls if c.id not in answered]


def _stored_call(data: dict[str, Any]) -> ToolCall:
    """A ``ToolCall`` from a model step's data, every stored field kept (e.g. a signature)."""
    known = {f.name for f in dataclasses.fields(ToolCall)}
    return ToolCall(**{k: v for k, v in data.items() if k in known})


def _decided(decision: approvals.Decision | None) -> ToolResult:
    """What the model gets for a call a person denied (or nobody decided in time)."""
    if decision is None:  # an asked call with no decision: it never resumes like that
        return ToolResult(content="This call was not approved.", is_error=True, data={"approval": "missing"})
    if decision.status == "expired":
        content = "A person denied this call: timed out (nobody approved it in time)."
    else:
        content = (
            f"A person denied this call: {decision.note}" if decision.note else "A person denied this call."
        )
    return ToolResult(content=content, is_error=True, data={"approval": decision.status, "error": "denied"})


async def _tool_turn(
    call: ToolCall,
    ctx: ToolContext,
    claimed: store.ClaimedRun,
    publisher: Publisher,
    step: int,
    *,
    enabled: tuple[ToolSpec, ...],
    tools: ToolRegistry,
    gate: _Gate,
    decided: approvals.Decision | None = None,
) -> Message:
    names = [spec.name for spec in enabled]
    approved = decided is not None and decided.status == "approved"
    if decided is None:  # a call not asked about yet (not a resumed one)
        data = {"id": call.id, "name": call.name, "arguments": call.arguments}
        await publisher.emit("tool_call", id=call.id, name=call.name, arguments=call.arguments, step=step)
        if call.name in names and gate.needs(call):
            await gate.wait(call, data)
        await asyncio.to_thread(
            store.append_step,
            claimed.run_id,
            claimed.workspace_id,
            kind="tool_call",
            content=call.name,
            data=data,
        )
    began = time.monotonic()
    extra: dict[str, Any] = {"approval": decided.status} if decided is not None else {}
    if decided is not None and not approved:
        result = _decided(decided)
    elif call.name in names:
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
        data={"id": call.id, "name": call.name, "is_error": result.is_error, **result.data, **extra},
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
