"""Runs: start, cancel, retry, read one with its steps, and list the history.

Starting and cancelling are async because they hand the run to the queue (or signal
its executor) after their transaction has committed. The starts of one workspace that
arrive together share one transaction (``services.run_starts``: group commit).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, insert, select, update

from galaxyco_ui import notifications
from galaxyco_ui.auth.permissions import Permission, TenantContext, can, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, NotFoundError, RateLimitedError, ValidationError
from galaxyco_ui.infra import metrics
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_sliding_window
from galaxyco_ui.models import Agent, Run, RunStep, User, Workspace, new_id, utcnow
from galaxyco_ui.models.runs import RUN_STATUSES, TERMINAL_STATUSES
from galaxyco_ui.runs import approvals, budgets, store
from galaxyco_ui.runs.events import RunEvent as RunEvent  # re-exported: what read_run_events returns
from galaxyco_ui.runs.events import get_event_bus, run_stream, workspace_stream
from galaxyco_ui.runs.executor import abort_run, enqueue_run
from galaxyco_ui.runs.signals import get_cancel_signals
from galaxyco_ui.services import audit
from galaxyco_ui.services.agent_versions import check_version_number, pinned_config
from galaxyco_ui.services.agents import live_agent
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.run_starts import GroupCommit
from galaxyco_ui.services.validation import check_text, lookup_id
from galaxyco_ui.webhooks.events import enqueue_deliveries

MAX_INPUT_CHARS = 20_000
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200  # the API's largest ?limit=
ACTIVE = ("queued", "running")  # what counts against the workspace's concurrent-run limit
UNFINISHED = (*ACTIVE, "waiting_approval")  # a run waiting for an approval holds no worker
STATUS_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "waiting_approval": "Waiting for approval",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


class RunView(BaseModel):
    id: str
    agent_id: str
    agent_name: str
    status: str = Field(json_schema_extra={"enum": list(RUN_STATUSES)})
    trigger: str
    input: str
    output: str
    error: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    started_by: str
    retry_of: str | None
    can_cancel: bool
    # The OpenTelemetry trace of its execution ("" when tracing was off; docs/architecture.md).
    trace_id: str = ""
    # The agent version it ran (None: a run from before versions existed).
    agent_version: int | None = None


class StepView(BaseModel):
    position: int
    kind: str
    content: str
    data: dict[str, Any]
    duration_ms: int


class RunPage(BaseModel):
    runs: list[RunView]
    next_cursor: str  # "" when there is no older page


async def start_run(
    *,
    ctx: TenantContext,
    agent_id: str,
    input: str,
    trigger: str = "manual",
    schedule_id: str | None = None,
    version: int | None = None,
) -> RunView:
    """Queue a run of ``agent_id`` with ``input`` and hand it to an executor.

    The run uses the agent's latest version, or version ``version`` when given (pinned:
    its configuration then comes from that version, not from the agent as it is now).

    Raises:
        PermissionDeniedError: viewers.
        NotFoundError: no such agent in this workspace, or no such version of it.
        ValidationError: empty or oversized input, or ``version`` not a positive number.
        RateLimitedError: too many starts this minute (by this member or in the workspace),
            or too many runs going at once (the workspace's limits: ``_lock_workspace_runs``).
        BudgetExceededError: a monthly budget of the workspace, the agent or the member is
            used up (a ``RateLimitedError`` whose ``retry_after`` runs until it resets).
    """
    require(ctx, Permission.RUN_AGENT)
    # A NUL or lone surrogate (from an API client) would fail the insert as a 500.
    text = check_text(input, field="input").strip()
    if not text:
        raise ValidationError({"input": "Write what the agent should do."})
    if len(text) > MAX_INPUT_CHARS:
        raise ValidationError({"input": f"Keep the input under {MAX_INPUT_CHARS:,} characters."})
    if version is not None:
        version = check_version_number(version)
    start = _Start(ctx, agent_id, text, trigger, schedule_id=schedule_id, version=version)
    return await _starts.submit(ctx.workspace_id, start)


async def retry_run(*, ctx: TenantContext, run_id: str) -> RunView:
    """A new run with the same input and the same agent configuration as ``run_id``."""
    require(ctx, Permission.RUN_AGENT)
    start = await asyncio.to_thread(_retry_start, ctx, run_id)
    return await _starts.submit(ctx.workspace_id, start)


async def cancel_run(*, ctx: TenantContext, run_id: str) -> None:
    """Ask a run to stop. A queued or waiting run is cancelled at once; a running one within a second."""
    require(ctx, Permission.RUN_AGENT)
    if not await asyncio.to_thread(_request_cancel, ctx, run_id):
        return
    await get_cancel_signals().request(run_id)
    if cancelled := await asyncio.to_thread(store.cancel_if_queued, run_id):
        metrics.run_finished("cancelled")
        await enqueue_deliveries(cancelled.webhook_deliveries)
        bus = get_event_bus()
        await bus.publish(
            run_stream(run_id), "final", {"status": "cancelled", "error": "Cancelled before it started."}
        )
        await bus.publish(
            workspace_stream(ctx.workspace_id), "run", {"run_id": run_id, "status": "cancelled"}
        )
        # Only a job that never started is taken out of the queue. Aborting a running SAQ
        # job cancels its executor before the executor has seen the cancel signal, and the
        # run then ended "failed: the server shut down" instead of "cancelled".
        await abort_run(run_id)
    elif ended := await asyncio.to_thread(approvals.cancel_waiting, run_id, user_id=ctx.user_id):
        deliveries, notice = ended
        metrics.run_finished("cancelled")
        await enqueue_deliveries(deliveries)
        await notifications.announce(notice)
        bus = get_event_bus()
        await bus.publish(
            run_stream(run_id), "final", {"status": "cancelled", "error": approvals.CANCELLED_ERROR}
        )
        await bus.publish(run_stream(run_id), "status", {"status": "cancelled"})
        await bus.publish(
            workspace_stream(ctx.workspace_id), "run", {"run_id": run_id, "status": "cancelled"}
        )
        await bus.end(run_stream(run_id))


def get_run(*, ctx: TenantContext, run_id: str) -> RunView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        run = _run(session, ctx, run_id)
        return _views(session, ctx, [run])[0]


def get_steps(*, ctx: TenantContext, run_id: str) -> list[StepView]:
    """The run's persisted steps in order (model turns, tool calls, tool results)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        _run(session, ctx, run_id)
        steps = session.exec(
            select(RunStep)
            .where(RunStep.run_id == run_id, RunStep.workspace_id == ctx.workspace_id)
            .order_by(col(RunStep.position))
        ).all()
        return [
            StepView(
                position=s.position, kind=s.kind, content=s.content, data=s.data, duration_ms=s.duration_ms
            )
            for s in steps
        ]


def list_runs(
    *,
    ctx: TenantContext,
    status: str = "",
    agent_id: str = "",
    trigger: str = "",
    started_by: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str = "",
    limit: int = PAGE_SIZE,
) -> RunPage:
    """The workspace's runs, newest first, filtered; ``cursor`` continues an earlier page.

    ``limit`` is kept within 1..200; a naive ``since``/``until`` is taken as UTC.

    Raises:
        ValidationError: ``cursor`` is not one a page gave (field ``cursor``).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    since, until = _aware(since), _aware(until)
    with session_scope() as session:
        query = select(Run).where(Run.workspace_id == ctx.workspace_id)
        if status:
            query = query.where(Run.status == status)
        if agent_id:
            # An id no agent could have (a NUL would crash PostgreSQL) matches no run.
            query = query.where(Run.agent_id == (lookup_id(agent_id) or ""))
        if trigger:
            query = query.where(Run.trigger == trigger)
        if started_by:
            query = query.where(Run.created_by == started_by)
        if since is not None:
            query = query.where(col(Run.created_at) >= since)
        if until is not None:
            query = query.where(col(Run.created_at) < until)
        if cursor:
            query = query.where(older_than(cursor, col(Run.created_at), col(Run.id)))
        rows = session.exec(
            query.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit + 1)
        ).all()
        page, more = rows[:limit], len(rows) > limit
        next_cursor = page_cursor(page[-1].created_at, page[-1].id) if more and page else ""
        return RunPage(runs=_views(session, ctx, list(page)), next_cursor=next_cursor)


def list_active_runs(*, ctx: TenantContext) -> list[RunView]:
    """What is queued, running or waiting for an approval in the workspace now, oldest first."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = session.exec(
            select(Run)
            .where(Run.workspace_id == ctx.workspace_id, col(Run.status).in_(UNFINISHED))
            .order_by(col(Run.created_at))
            .limit(100)
        ).all()
        return _views(session, ctx, list(rows))


async def read_run_events(
    *, ctx: TenantContext, run_id: str, after: str | None, wait: float = 0.0
) -> list[RunEvent]:
    """The live events of one run of the caller's workspace after the cursor ``after``.

    The run is looked up on every call, so a live view that keeps reading stops at the
    first read after its context no longer reaches the run.

    Raises:
        NotFoundError: no such run in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    await asyncio.to_thread(_check_run_in_workspace, ctx, run_id)
    return await get_event_bus().read(run_stream(run_id), after=after or None, wait=wait)


async def read_workspace_run_events(
    *, ctx: TenantContext, after: str | None, wait: float = 0.0
) -> list[RunEvent]:
    """Run status changes of the caller's workspace after the cursor ``after``."""
    require(ctx, Permission.VIEW_WORKSPACE)
    return await get_event_bus().read(workspace_stream(ctx.workspace_id), after=after or None, wait=wait)


async def workspace_run_events_cursor(*, ctx: TenantContext) -> str:
    """The cursor of the newest run status change in the caller's workspace ("" for none)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    return await get_event_bus().last_id(workspace_stream(ctx.workspace_id)) or ""


# ---------------------------------------------------------------- internals


@dataclass(frozen=True, slots=True)
class _Start:
    """One run start, as a batch (``_create_runs``) takes it."""

    ctx: TenantContext
    agent_id: str
    text: str
    trigger: str
    retry_of: str | None = None
    schedule_id: str | None = None
    snapshot: dict[str, Any] | None = None  # a retry: the configuration of the run it repeats
    version: int | None = None  # the pinned agent version (or the retried run's)


def _create_runs(starts: list[_Start]) -> list[RunView | Exception]:
    """Insert the queued runs of ``starts`` (all of one workspace) in one transaction.

    Returns, per start in order, its run's view or the error that refused it alone: the
    member's or the workspace's start rate, the agent or version not found, the concurrent
    cap (counting the runs of this batch admitted before it), a budget. Any other error
    (the database's) propagates: nothing of the batch is written.
    """
    outcomes: dict[int, RunView | Exception] = {}
    for i, start in enumerate(starts):
        if refused := _hit_member_limit(start.ctx):
            outcomes[i] = refused
    admitted: list[tuple[int, dict[str, Any]]] = []
    if len(outcomes) < len(starts):
        with session_scope() as session:
            checks = _StartChecks(session, starts[0].ctx.workspace_id)
            for i, start in enumerate(starts):
                if i in outcomes:
                    continue
                try:
                    admitted.append((i, checks.admit(start)))
                except GalaxyError as refused:
                    outcomes[i] = refused
            if admitted:
                session.execute(insert(Run), [row for _, row in admitted])  # one multi-row insert
                # The rows as written, without validating them again (they were built here).
                written = [(starts[i].ctx, Run.model_construct(**row)) for i, row in admitted]
                views = _views_of(session, written)
                outcomes.update((i, view) for (i, _), view in zip(admitted, views, strict=True))
    return [outcomes[i] for i in range(len(starts))]


def _hit_member_limit(ctx: TenantContext) -> RateLimitedError | None:
    """Count a start against the member's minute; the error if it is used up."""
    settings = get_settings()
    wait = get_sliding_window().hit(
        f"runs:user:{ctx.user_id}", limit=settings.user_run_starts_per_minute, window_seconds=60
    )
    if not wait:
        return None
    return RateLimitedError(
        f"You started {settings.user_run_starts_per_minute} runs in the last minute. "
        f"Try again in {int(wait) + 1} seconds.",
        retry_after=int(wait) + 1,
    )


class _StartChecks:
    """The checks of one batch's starts under one workspace lock, with one count of its active runs.

    The agents, pinned versions and passed budget checks are looked up once a batch: a
    queued run has spent nothing, so the runs admitted earlier in the batch leave a
    budget's spending as it was.
    """

    def __init__(self, session: Session, workspace_id: str) -> None:
        self.session, self.workspace_id = session, workspace_id
        self.max_concurrent, self.per_minute = _lock_workspace_runs(session, workspace_id)
        self.active: int = session.exec(
            select(func.count())
            .select_from(Run)
            .where(Run.workspace_id == workspace_id, col(Run.status).in_(ACTIVE))
        ).one()
        self._agents: dict[str, Agent | NotFoundError] = {}
        self._versions: dict[tuple[str, int], dict[str, Any]] = {}
        self._within_budget: set[tuple[str, str]] = set()

    def admit(self, start: _Start) -> dict[str, Any]:
        """The run row of ``start`` if every check lets it through (it counts as active from now).

        Its id, times and JSON columns are set here, not by the model's default factories:
        building a ``Run`` through SQLModel cost ~0.5 ms of CPU a start, more than its insert.

        Raises:
            GalaxyError: what refused it (see ``start_run``).
        """
        ctx = start.ctx
        agent = self._agent(ctx, start.agent_id)
        snapshot, version = start.snapshot, start.version
        if snapshot is None and version is not None:
            key = (agent.id, version)
            if key not in self._versions:
                self._versions[key] = pinned_config(self.session, ctx, agent, version)
            snapshot = dict(self._versions[key])
        elif snapshot is None:
            version = agent.version or None
        if self.active >= self.max_concurrent:
            raise RateLimitedError(
                f"This workspace already has {self.active} runs going (the limit is "
                f"{self.max_concurrent}). Wait for one to finish or cancel one.",
                retry_after=5,
            )
        if (agent.id, ctx.user_id) not in self._within_budget:
            budgets.check_start(
                self.session, workspace_id=self.workspace_id, agent_id=agent.id, member_id=ctx.user_id
            )
            self._within_budget.add((agent.id, ctx.user_id))
        # Last, so that a start refused above does not use up the workspace's minute.
        wait = get_sliding_window().hit(
            f"ws:{self.workspace_id}:runs:starts", limit=self.per_minute, window_seconds=60
        )
        if wait:
            raise RateLimitedError(
                f"This workspace started {self.per_minute} runs in the last minute (its limit). "
                f"Try again in {int(wait) + 1} seconds.",
                retry_after=int(wait) + 1,
            )
        self.active += 1
        now = utcnow()
        return {
            "id": new_id(),
            "created_at": now,
            "updated_at": now,
            "meta": {},
            "workspace_id": self.workspace_id,
            "created_by": ctx.user_id,
            "agent_id": agent.id,
            "trigger": start.trigger,
            "input": start.text,
            "agent_snapshot": snapshot or store.agent_snapshot(agent),
            "retry_of": start.retry_of,
            "schedule_id": start.schedule_id,
            "agent_version": version,
        }

    def _agent(self, ctx: TenantContext, agent_id: str) -> Agent:
        if agent_id not in self._agents:
            try:
                self._agents[agent_id] = live_agent(self.session, ctx, agent_id)
            except NotFoundError as missing:
                self._agents[agent_id] = missing
        found = self._agents[agent_id]
        if isinstance(found, NotFoundError):
            raise NotFoundError("That agent")
        return found


def _create_run(
    ctx: TenantContext,
    agent_id: str,
    text: str,
    trigger: str,
    retry_of: str | None,
    schedule_id: str | None,
    snapshot: dict[str, Any] | None = None,
    *,
    version: int | None = None,
) -> RunView:
    """One start in a transaction of its own (a batch of one); raises what refused it."""
    start = _Start(ctx, agent_id, text, trigger, retry_of, schedule_id, snapshot, version)
    outcome = _create_runs([start])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def clamp_limit(chosen: int | None, operator_max: int) -> int:
    """A workspace's chosen run limit kept within 1 … the operator's maximum (None: the maximum)."""
    return operator_max if chosen is None else max(1, min(chosen, operator_max))


def _lock_workspace_runs(session: Session, workspace_id: str) -> tuple[int, int]:
    """Serialize run starts in one workspace until ``session`` commits; returns its run limits.

    The concurrent-run cap is a count followed by an insert; two starts that both count
    before either inserts would both pass it. PostgreSQL locks the workspace row
    (``SELECT ... FOR UPDATE``). SQLite has no row locks and ignores ``FOR UPDATE``, and
    its reads do not open a transaction (pysqlite begins one only at the first write), so
    a no-op write takes this process's write gate (``infra/db.py``) and the database's
    write lock now, as ``BEGIN IMMEDIATE`` would: the other start waits at the gate (another
    process: in ``busy_timeout``) and then counts this one's run. Starts that arrive
    together share this lock once (group commit, ``run_starts.py``).

    The limits are the workspace's concurrent runs and run starts per minute, each kept
    within the operator's maximum (``WORKSPACE_MAX_CONCURRENT_RUNS``,
    ``WORKSPACE_MAX_RUN_STARTS_PER_MINUTE``), which is also the limit it did not choose.
    """
    limits = select(Workspace.max_concurrent_runs, Workspace.run_starts_per_minute).where(
        Workspace.id == workspace_id
    )
    if session.get_bind().dialect.name == "sqlite":
        session.exec(update(Workspace).where(col(Workspace.id) == workspace_id).values(name=Workspace.name))
    else:
        limits = limits.with_for_update()
    concurrent, per_minute = session.exec(limits).first() or (None, None)
    settings = get_settings()
    return (
        clamp_limit(concurrent, settings.workspace_max_concurrent_runs),
        clamp_limit(per_minute, settings.workspace_max_run_starts_per_minute),
    )


def _retry_start(ctx: TenantContext, run_id: str) -> _Start:
    """A start that repeats run ``run_id``: its input, trigger, configuration and version."""
    with session_scope() as session:
        original = _run(session, ctx, run_id)
        return _Start(
            ctx,
            original.agent_id,
            original.input,
            original.trigger,
            retry_of=run_id,
            snapshot=dict(original.agent_snapshot),
            version=original.agent_version,
        )


async def _announce_and_enqueue(workspace_id: str, view: RunView) -> None:
    metrics.run_started(view.trigger)
    bus = get_event_bus()
    await bus.publish(run_stream(view.id), "status", {"status": "queued"})
    await bus.publish(workspace_stream(workspace_id), "run", {"run_id": view.id, "status": "queued"})
    await enqueue_run(view.id)


async def _announce_start(start: _Start, view: RunView) -> None:
    await _announce_and_enqueue(start.ctx.workspace_id, view)


# Starts of one workspace that arrive together are written in one transaction.
_starts: GroupCommit[_Start, RunView] = GroupCommit(_create_runs, _announce_start, max_batch=64)


def _request_cancel(ctx: TenantContext, run_id: str) -> bool:
    """Note a cancel request on an unfinished run, with its audit event; False if it had finished."""
    with session_scope() as session:
        run = _run(session, ctx, run_id)
        if run.status in TERMINAL_STATUSES:
            return False
        run.cancel_requested_at = run.cancel_requested_at or utcnow()
        audit.record(
            session,
            ctx,
            "run.cancelled",
            summary=f"Cancelled a {run.status} run of “{run.agent_snapshot.get('name', '')}”",
            target_type="run",
            target_id=run.id,
        )
        return True


def _aware(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware datetime (naive ones are UTC): the column compares only with those."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _check_run_in_workspace(ctx: TenantContext, run_id: str) -> None:
    """``NotFoundError`` unless ``run_id`` is a run of the caller's workspace.

    Live views call this on every read, so it reads one indexed column, not the run.
    """
    key = lookup_id(run_id)  # a NUL or lone surrogate would crash the database
    with session_scope() as session:
        found = (
            session.exec(select(Run.id).where(Run.id == key, Run.workspace_id == ctx.workspace_id)).first()
            if key
            else None
        )
    if found is None:
        raise NotFoundError("That run")


def _run(session: Session, ctx: TenantContext, run_id: str) -> Run:
    key = lookup_id(run_id)  # a NUL or lone surrogate would crash the database
    run = session.get(Run, key) if key else None
    if run is None or run.workspace_id != ctx.workspace_id:
        raise NotFoundError("That run")
    return run


def _views(session: Session, ctx: TenantContext, runs: list[Run]) -> list[RunView]:
    return _views_of(session, [(ctx, r) for r in runs])


def _views_of(session: Session, seen: list[tuple[TenantContext, Run]]) -> list[RunView]:
    """Each run as the member of its context sees it (starter names in one query)."""
    user_ids = {r.created_by for _, r in seen if r.created_by}
    names = (
        dict(session.exec(select(User.id, User.name).where(col(User.id).in_(user_ids))).all())
        if user_ids
        else {}
    )
    now = utcnow()
    views = []
    for ctx, r in seen:
        end = r.finished_at or (now if r.started_at else None)
        views.append(
            RunView(
                id=r.id,
                agent_id=r.agent_id,
                agent_name=r.agent_snapshot.get("name", ""),
                status=r.status,
                trigger=r.trigger,
                input=r.input,
                output=r.output,
                error=r.error,
                model=r.agent_snapshot.get("model", ""),
                provider=r.agent_snapshot.get("provider", ""),
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=float(r.cost_usd) if r.cost_usd is not None else None,
                created_at=r.created_at,
                started_at=r.started_at,
                finished_at=r.finished_at,
                duration_ms=int((end - r.started_at).total_seconds() * 1000)
                if end and r.started_at
                else None,
                started_by=names.get(r.created_by or "", "Schedule" if r.trigger == "schedule" else "API"),
                retry_of=r.retry_of,
                can_cancel=can(ctx, Permission.RUN_AGENT) and r.status in UNFINISHED,
                trace_id=str((r.meta or {}).get("trace_id", "")),
                agent_version=r.agent_version,
            )
        )
    return views
