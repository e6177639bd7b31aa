"""One run, live (/runs/[run_id]): the streaming answer, tool cards, tokens, cost, cancel, retry.

A finished run is read from the database. A run in progress is rebuilt by replaying
its event stream from the start and then following it, so a reload or reconnect
shows exactly what happened, without gaps or duplicates. The streaming text of the
current model turn lives in ``live_text`` (a small var) and joins the ``timeline``
list only when the turn ends, so Reflex does not resend the list on every token.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import reflex as rx
from pydantic import BaseModel

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import GalaxyError, NotFoundError
from galaxyco_ui.services import runs
from galaxyco_ui.services.runs import RunEvent, RunView
from galaxyco_ui.states.guard import guarded, session_context
from galaxyco_ui.states.live import RECHECK_SECONDS, UI_UPDATE_INTERVAL, client_connected

TERMINAL = ("succeeded", "failed", "cancelled")
_CITATION = re.compile(r"\[(\d{1,3})\](?!\()")


def source_href(item_id: str, chunk: int) -> str:
    """Where a citation points: the item page, scrolled to the cited chunk."""
    return f"/knowledge/items/{item_id}?chunk={chunk}#chunk-{chunk}"


def link_citations(text: str, sources: dict[int, str]) -> str:
    """Turn the answer's ``[n]`` references into Markdown links to their sources.

    Only numbers that a knowledge_search call of this run handed out are linked;
    anything else in brackets is left as written.
    """
    if not sources:
        return text
    return _CITATION.sub(
        lambda m: f"[\\[{m[1]}\\]]({sources[int(m[1])]})" if int(m[1]) in sources else m[0], text
    )


def _pretty(arguments: Any) -> str:
    """A call's arguments as indented JSON (capped: a card, not a dump)."""
    text = json.dumps(arguments or {}, indent=2, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 20_000 else text[:20_000] + "\n…"


class TimelineItem(BaseModel):
    """One row of the run's timeline: a finished model turn's text, or a tool call.

    ``kind`` is "text" (``text`` holds the turn's Markdown, citations linked) or "tool"
    (``name``, ``arguments`` as indented JSON, and once ``done`` its ``result`` and
    ``is_error``). ``id`` is the tool call's id, or ``text-<step>``.
    """

    kind: str
    id: str
    step: int
    text: str = ""
    name: str = ""
    arguments: str = ""
    result: str = ""
    is_error: bool = False
    done: bool = False


def _tool_item(call_id: str, name: str, arguments: Any, step: int) -> TimelineItem:
    # The id and name come from the model (through the provider SDK): a missing one
    # shows as empty rather than failing the row's validation.
    return TimelineItem(
        kind="tool",
        id=str(call_id or ""),
        name=str(name or ""),
        step=step,
        arguments=json.dumps(arguments, indent=2, ensure_ascii=False),
    )


def _text_item(text: str, step: int) -> TimelineItem:
    return TimelineItem(kind="text", id=f"text-{step}", step=step, text=text, done=True)


class RunState(rx.State):
    run_id: str = ""
    found: bool = True
    status: rx.Field[str] = rx.field("")
    agent_id: str = ""
    agent_name: str = ""
    agent_version: rx.Field[int] = rx.field(0)  # 0: a run from before agent versions
    model: str = ""
    trigger: str = ""
    started_by: str = ""
    input: str = ""
    output: str = ""
    error: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: str = ""
    elapsed_ms: int = 0
    trace_id: str = ""  # its OpenTelemetry trace, when tracing was on while it ran
    timeline: list[TimelineItem] = []
    # Knowledge passages the run cited, numbered as the model saw them: n, item_name,
    # page, heading, href.
    sources: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    live_text: str = ""
    live_step: int = -1
    can_cancel: bool = False
    can_retry: bool = False
    # The tool call the run waits on (status "waiting_approval"; components/approvals.py).
    approval_id: str = ""
    approval_tool: str = ""
    approval_arguments: str = ""  # indented JSON, shown as plain text
    cancelling: bool = False
    cursor: str = ""
    _generation: int = 0
    _started_at: float = 0.0

    @rx.var
    def finished(self) -> bool:
        return self.status in TERMINAL

    @rx.var
    def live_text_linked(self) -> str:
        return link_citations(self.live_text, self._source_links())

    def _source_links(self) -> dict[int, str]:
        return {int(src["n"]): src["href"] for src in self.sources}

    def _add_sources(self, data: dict[str, Any]) -> None:
        if data.get("name") != "knowledge_search" or not data.get("sources"):
            return
        known = {src["n"] for src in self.sources}
        fresh = [
            {
                "n": int(src["n"]),
                "item_name": str(src.get("item_name", "")),
                "page": "" if src.get("page") is None else f"page {src['page']}",
                "heading": str(src.get("heading") or ""),
                "href": source_href(str(src["item_id"]), int(src.get("chunk", 0))),
            }
            for src in data["sources"]
            if int(src["n"]) not in known
        ]
        if fresh:
            self.sources = sorted([*self.sources, *fresh], key=lambda src: src["n"])

    def _text(self, text: str, step: int) -> TimelineItem:
        return _text_item(link_citations(text, self._source_links()), step)

    @rx.var
    def tokens_label(self) -> str:
        return f"{self.input_tokens:,} in · {self.output_tokens:,} out"

    @rx.var
    def trace_label(self) -> str:
        return f"{self.trace_id[:6]}…" if self.trace_id else ""

    @rx.var
    def elapsed_label(self) -> str:
        seconds = self.elapsed_ms / 1000
        return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        run_id = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        self._generation += 1  # a follow of the run shown before stops
        # The run id is kept only once the service has found it in this workspace.
        self.run_id = ""
        self.timeline, self.live_text, self.live_step, self.cursor = [], "", -1, ""
        self.sources = []
        self.approval_id = self.approval_tool = self.approval_arguments = ""
        try:
            view = runs.get_run(ctx=ctx, run_id=run_id)
        except NotFoundError:
            self.found = False
            return None
        self.found, self.run_id = True, run_id
        self._apply_view(view)
        self.can_retry = can(ctx, Permission.RUN_AGENT)
        if view.status in TERMINAL:
            self._timeline_from_steps(runs.get_steps(ctx=ctx, run_id=run_id))
            return None
        return RunState.follow(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy

    def _apply_view(self, view: RunView) -> None:
        self.status, self.agent_id, self.agent_name = view.status, view.agent_id, view.agent_name
        self.agent_version = view.agent_version or 0
        self.model, self.trigger, self.started_by = view.model, view.trigger, view.started_by
        self.input, self.output, self.error = view.input, view.output, view.error
        self.input_tokens, self.output_tokens = view.input_tokens, view.output_tokens
        self.cost = (
            "unknown"
            if view.cost_usd is None and view.status in TERMINAL
            else (f"${view.cost_usd:.4f}" if view.cost_usd is not None else "—")
        )
        self.elapsed_ms = view.duration_ms or 0
        self.can_cancel = view.can_cancel
        self.trace_id = view.trace_id
        self._started_at = time.monotonic() - self.elapsed_ms / 1000

    def _timeline_from_steps(self, steps: list[runs.StepView]) -> None:
        items: list[TimelineItem] = []
        self.sources = []
        for step in steps:
            if step.kind == "tool_result":
                self._add_sources(step.data)
        for step in steps:
            if step.kind == "model" and step.content:
                items.append(self._text(step.content, step.position))
            elif step.kind == "tool_call":
                items.append(
                    _tool_item(
                        step.data.get("id", ""),
                        step.data.get("name", ""),
                        step.data.get("arguments", {}),
                        step.position,
                    )
                )
            elif step.kind == "tool_result":
                for item in reversed(items):
                    if item.kind == "tool" and item.id == step.data.get("id"):
                        item.result = step.content
                        item.is_error = bool(step.data.get("is_error"))
                        item.done = True
                        break
        self.timeline = items

    def _apply_events(self, events: list[RunEvent]) -> bool:
        """Fold events into the view; True once the run has finished."""
        finished = False
        timeline = None
        for event in events:
            data = event.data
            if event.type == "text":
                step = int(data.get("step", -1))
                if step != self.live_step and self.live_text:
                    timeline = timeline if timeline is not None else list(self.timeline)
                    timeline.append(self._text(self.live_text, self.live_step))
                    self.live_text = ""
                self.live_step = step
                self.live_text += data.get("delta", "")
            elif event.type == "tool_call":
                timeline = timeline if timeline is not None else list(self.timeline)
                if self.live_text:
                    timeline.append(self._text(self.live_text, self.live_step))
                    self.live_text = ""
                timeline.append(
                    _tool_item(
                        data.get("id", ""),
                        data.get("name", ""),
                        data.get("arguments", {}),
                        int(data.get("step", -1)),
                    )
                )
            elif event.type == "tool_result":
                self._add_sources({"name": data.get("name"), **(data.get("data") or {})})
                timeline = timeline if timeline is not None else list(self.timeline)
                for i in range(len(timeline) - 1, -1, -1):
                    if timeline[i].kind == "tool" and timeline[i].id == data.get("id"):
                        timeline[i] = timeline[i].model_copy(
                            update={
                                "result": data.get("content", ""),
                                "is_error": bool(data.get("is_error")),
                                "done": True,
                            }
                        )
                        break
            elif event.type == "usage":
                self.input_tokens = int(data.get("input_tokens", 0))
                self.output_tokens = int(data.get("output_tokens", 0))
                cost = data.get("cost_usd")
                self.cost = f"${float(cost):.4f}" if cost is not None else "unknown"
            elif event.type == "status":
                self.status = data.get("status", self.status)
                waiting = self.status == "waiting_approval"
                self.approval_id = str(data.get("approval_id", ""))[:64] if waiting else ""
                self.approval_tool = str(data.get("tool", ""))[:200] if waiting else ""
                self.approval_arguments = _pretty(data.get("arguments")) if waiting else ""
                if self.status == "running" and not self._started_at:
                    self._started_at = time.monotonic()
            elif event.type == "final":
                finished = True
            self.cursor = event.id
        if timeline is not None:
            self.timeline = timeline
        return finished

    @rx.event(background=True)
    @guarded
    async def follow(self, ctx: TenantContext, generation: int):
        """Replay and follow the run's events until it ends or this browser leaves.

        Any client can send this with any generation, so nothing here rests on state
        alone: every read goes through ``runs.read_run_events``, which looks the run up
        in the caller's workspace, and the caller's session is resolved again every
        ``RECHECK_SECONDS`` (a revoked session or a removed member stops following).
        """
        async with self:
            if generation != self._generation:
                return
            run_id, cursor = self.run_id, self.cursor
        checked = time.monotonic()
        while True:
            async with self:
                if generation != self._generation or self.run_id != run_id or not client_connected(self):
                    return
            if time.monotonic() - checked > RECHECK_SECONDS:
                fresh = session_context(self)
                if fresh is None:
                    return
                ctx, checked = fresh, time.monotonic()
            try:
                events = await runs.read_run_events(ctx=ctx, run_id=run_id, after=cursor, wait=1.0)
            except GalaxyError:
                return
            async with self:
                if generation != self._generation or self.run_id != run_id:
                    return
                finished = self._apply_events(events)
                cursor = self.cursor
                if self.status == "running" and self._started_at:
                    self.elapsed_ms = int((time.monotonic() - self._started_at) * 1000)
            if finished:
                await asyncio.sleep(0)
                try:
                    view = await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)
                    steps = await asyncio.to_thread(runs.get_steps, ctx=ctx, run_id=run_id)
                except GalaxyError:
                    return
                async with self:
                    if generation == self._generation and self.run_id == run_id:
                        self._finish(view, steps)
                return
            await asyncio.sleep(UI_UPDATE_INTERVAL)

    def _finish(self, view: RunView, steps: list[runs.StepView]) -> None:
        self._apply_view(view)
        self.live_text, self.live_step = "", -1
        self._timeline_from_steps(steps)
        self.cancelling = False

    @rx.event
    @guarded(reset={"cancelling": False})
    async def cancel(self, ctx: TenantContext):
        self.cancelling = True
        await runs.cancel_run(ctx=ctx, run_id=self.run_id)
        return rx.toast.info("Cancelling…")

    @rx.event
    @guarded
    async def retry(self, ctx: TenantContext):
        view = await runs.retry_run(ctx=ctx, run_id=self.run_id)
        return rx.redirect(f"/runs/{view.id}")
