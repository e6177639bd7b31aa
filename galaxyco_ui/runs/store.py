"""Database steps of a run's life, each its own short transaction.

The executor calls these between provider calls; none of them is held open across
network I/O. Every function is idempotent with respect to the run's status: a run
that already finished is never moved again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert
from sqlmodel import Session, col, func, select, update

from galaxyco_ui import notifications
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, Run, RunStep, new_id, utcnow
from galaxyco_ui.models.runs import TERMINAL_STATUSES
from galaxyco_ui.providers.base import ProviderConfig
from galaxyco_ui.providers.credentials import provider_config
from galaxyco_ui.runs import approvals, budgets
from galaxyco_ui.runs.notices import record_run_notice
from galaxyco_ui.runs.usage import record_run_usage
from galaxyco_ui.webhooks.events import record_run_event

# The run's hot path runs statements built once, at import, with bound parameters: built
# anew on every call (coercions, cache keys, ORM flushes and row loading), they were most
# of these transactions' CPU (bench/README.md, "Where the time goes (profile)").
_RUNS: Table = Run.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
_STEPS: Table = RunStep.__table__  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=_RUNS.c.updated_at.type)
_THIS_RUN = _RUNS.c.id == bindparam("run_id")

# queued → running, returning what the executor needs (a resumed run keeps its first start).
_CLAIM = (
    update(_RUNS)
    .where(_THIS_RUN, _RUNS.c.status == "queued")
    .values(
        status="running",
        started_at=func.coalesce(_RUNS.c.started_at, _NOW),
        heartbeat_at=_NOW,
        updated_at=_NOW,
    )
    .returning(
        _RUNS.c.workspace_id,
        _RUNS.c.agent_id,
        _RUNS.c.created_by,
        _RUNS.c.input,
        _RUNS.c.agent_snapshot,
        _RUNS.c.step_count,
        _RUNS.c.metadata,
        _RUNS.c.input_tokens,
        _RUNS.c.output_tokens,
        _RUNS.c.cost_usd,
    )
)
_SET_META = (
    update(_RUNS).where(_THIS_RUN).values({_RUNS.c.metadata: bindparam("meta", type_=_RUNS.c.metadata.type)})
)
# A step's position: the run's step count before it, taken and moved in one statement.
_NEXT_STEP = (
    update(_RUNS)
    .where(_THIS_RUN)
    .values(step_count=_RUNS.c.step_count + 1, heartbeat_at=_NOW)
    .returning(
        (_RUNS.c.step_count - 1).label("position"), _RUNS.c.workspace_id, _RUNS.c.agent_id, _RUNS.c.created_by
    )
)
_NEXT_MODEL_STEP = _NEXT_STEP.values(
    input_tokens=bindparam("tokens_in"), output_tokens=bindparam("tokens_out"), cost_usd=bindparam("cost")
)
_INSERT_STEP = insert(_STEPS)
# The terminal state, once, returning the run as the webhook event, notice and rollup read it.
_FINISH = (
    update(_RUNS)
    .where(_THIS_RUN, _RUNS.c.status.not_in(sorted(TERMINAL_STATUSES)))
    .values(
        status=bindparam("new_status"),
        output=bindparam("new_output"),
        error=bindparam("new_error"),
        input_tokens=bindparam("tokens_in"),
        output_tokens=bindparam("tokens_out"),
        cost_usd=bindparam("cost"),
        finished_at=_NOW,
        updated_at=_NOW,
    )
    .returning(*_RUNS.c)
)
# The same with the run's final model turn as its last step (``finish_run(last_turn=...)``).
_FINISH_WITH_STEP = _FINISH.values(step_count=_RUNS.c.step_count + 1, heartbeat_at=_NOW)

WORKER_LOST = "The worker running this run stopped responding (worker lost). Retry the run to start it again."


@dataclass(frozen=True, slots=True)
class Finished:
    """A run just put in its terminal state, and the webhook deliveries that recorded.

    The deliveries (and the notification of a failed scheduled run) commit with the
    run's new state; the caller enqueues them (``webhooks.events.enqueue_deliveries``,
    ``notifications.announce``) once the transaction is over.
    """

    webhook_deliveries: list[str]
    notice: notifications.Announcement | None = None


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """What the executor needs, loaded once when it starts a run."""

    run_id: str
    workspace_id: str
    agent_id: str
    user_id: str
    input: str
    snapshot: dict[str, Any]
    provider: ProviderConfig | None
    provider_problem: str
    # Whether a budget applied when it was claimed: only then does each turn check budgets.
    budgeted: bool = False
    # A run resumed after an approval: its persisted steps, decided approvals (by tool
    # call id), totals so far and the seconds it has executed (``runs.approvals``).
    history: tuple[PastStep, ...] = ()
    decisions: dict[str, approvals.Decision] = field(default_factory=dict)
    totals: RunningTotals | None = None
    active_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PastStep:
    """A persisted step, as a resumed run rebuilds its conversation from it."""

    kind: str
    content: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """A model turn's step, as ``append_model_step`` or ``finish_run`` persists it."""

    content: str
    data: dict[str, Any]
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RunningTotals:
    """A run's tokens and cost so far (``cost_usd`` None: unknown), persisted after each model turn."""

    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None


def agent_snapshot(agent: Agent) -> dict[str, Any]:
    """The agent's configuration as a run records it, and as an ``AgentVersion`` keeps it."""
    return {
        "id": agent.id,
        "name": agent.name,
        "provider": agent.provider,
        "model": agent.model,
        "instructions": agent.instructions,
        "temperature": agent.temperature,
        "max_steps": agent.max_steps,
        "max_output_tokens": agent.max_output_tokens,
        "tools": list(agent.tools),
        "knowledge_collection_ids": list(agent.knowledge_collection_ids),
        "approval_tools": list(agent.approval_tools),
        "approval_timeout_seconds": agent.approval_timeout_seconds,
    }


def claim_run(run_id: str, *, trace_id: str | None = None) -> ClaimedRun | None:
    """Move a queued run to running and load what it needs; None if it is not queued.

    The move is one compare-and-set (``UPDATE ... WHERE status = 'queued'``): of two
    executors handed the same run (a duplicate enqueue, a retried job), exactly one wins.
    The winner's ``trace_id`` (tracing on) is kept in the run's ``metadata["trace_id"]``.
    """
    with session_scope() as session:
        db = session.connection()
        run = db.execute(_CLAIM, {"run_id": run_id, "now": utcnow()}).one_or_none()
        if run is None:
            return None
        if trace_id:
            db.execute(_SET_META, {"run_id": run_id, "meta": {**run.metadata, "trace_id": trace_id}})
        resumed = _resume_state(session, run_id, run) if run.step_count else {}
        snapshot = dict(run.agent_snapshot)
        config, problem = provider_config(session, run.workspace_id, snapshot.get("provider", ""))
        return ClaimedRun(
            run_id=run_id,
            workspace_id=run.workspace_id,
            agent_id=run.agent_id,
            user_id=run.created_by or "",
            input=run.input,
            snapshot=snapshot,
            provider=config,
            provider_problem=problem,
            budgeted=budgets.has_budgets(session, run.workspace_id, run.agent_id, run.created_by or ""),
            **resumed,
        )


def _resume_state(session: Session, run_id: str, run: Row[Any]) -> dict[str, Any]:
    """What a run that already has steps (it waited for an approval) resumes from."""
    steps = session.exec(
        select(RunStep).where(RunStep.run_id == run_id).order_by(col(RunStep.position))
    ).all()
    return {
        "history": tuple(PastStep(s.kind, s.content, dict(s.data)) for s in steps),
        "decisions": approvals.decisions(session, run_id),
        "totals": RunningTotals(
            run.input_tokens,
            run.output_tokens,
            Decimal(str(run.cost_usd)) if run.cost_usd is not None else None,
        ),
        "active_seconds": float((run.metadata or {}).get("active_seconds", 0.0)),
    }


def append_step(
    run_id: str,
    workspace_id: str,
    *,
    kind: str,
    content: str = "",
    data: dict[str, Any] | None = None,
    duration_ms: int = 0,
) -> int:
    """Persist one step at the end of the run's list; returns its position (-1: no such run)."""
    with session_scope() as session:
        db = session.connection()
        run = db.execute(_NEXT_STEP, {"run_id": run_id, "now": utcnow()}).one_or_none()
        if run is None:
            return -1
        return _insert_step(
            db,
            run_id,
            run.workspace_id,
            run.position,
            kind=kind,
            content=content,
            data=data,
            duration_ms=duration_ms,
        )


def append_model_step(
    run_id: str,
    workspace_id: str,
    *,
    content: str,
    data: dict[str, Any],
    duration_ms: int,
    totals: RunningTotals,
    check_budgets: bool,
) -> budgets.Verdict:
    """Persist a model turn with the run's running totals and, if asked, check its budgets.

    One transaction: the turn, the totals other runs' budget checks count, and (with
    ``check_budgets``) the check of this run's budgets, which first locks them so the
    checks of one workspace's runs see each other's turns (``runs/budgets.py``): whichever
    check takes the lock second counts the turn of the first.
    Returns the check's verdict (empty without ``check_budgets``).
    """
    with session_scope() as session:
        db = session.connection()
        run = db.execute(
            _NEXT_MODEL_STEP,
            {
                "run_id": run_id,
                "now": utcnow(),
                "tokens_in": totals.input_tokens,
                "tokens_out": totals.output_tokens,
                "cost": float(totals.cost_usd) if totals.cost_usd is not None else None,
            },
        ).one_or_none()
        if run is None:
            return budgets.Verdict()
        _insert_step(
            db,
            run_id,
            run.workspace_id,
            run.position,
            kind="model",
            content=content,
            data=data,
            duration_ms=duration_ms,
        )
        if not check_budgets:
            return budgets.Verdict()
        member_id = run.created_by or ""
        caps = budgets.run_caps(session, workspace_id, run.agent_id, member_id, lock=True)
        if not caps:
            return budgets.Verdict()
        return budgets.check_run(
            session, workspace_id=workspace_id, agent_id=run.agent_id, member_id=member_id, caps=caps
        )


def _insert_step(
    db: Connection,
    run_id: str,
    workspace_id: str,
    position: int,
    *,
    kind: str,
    content: str,
    data: dict[str, Any] | None,
    duration_ms: int,
) -> int:
    db.execute(
        _INSERT_STEP,
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "run_id": run_id,
            "position": position,
            "kind": kind,
            "content": content,
            "data": data or {},
            "duration_ms": duration_ms,
            "created_at": utcnow(),
        },
    )
    return position


def heartbeat(run_id: str) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is not None and run.status == "running":
            run.heartbeat_at = utcnow()


def heartbeat_runs(run_ids: list[str]) -> None:
    """Move the heartbeat of those of ``run_ids`` still running to now, in one statement."""
    with session_scope() as session:
        session.exec(
            update(Run)
            .where(col(Run.id).in_(run_ids), col(Run.status) == "running")
            .values(heartbeat_at=utcnow())
        )


def finish_run(
    run_id: str,
    *,
    status: str,
    output: str = "",
    error: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost_usd: Decimal | None = None,
    last_turn: ModelTurn | None = None,
) -> Finished | None:
    """Put the run in a terminal state, once. Returns None if it had already finished.

    One compare-and-set (``UPDATE ... WHERE status NOT IN (terminal)``) that returns the
    run: a sweep failing it as lost at this moment either waits for it (PostgreSQL's row
    lock) and then finds it finished, or moved it first, and this returns None.
    ``last_turn``: the run's final model turn, persisted as its last step in the same
    transaction (as ``append_model_step`` would, with the totals given here).
    """
    assert status in TERMINAL_STATUSES
    with session_scope() as session:
        db = session.connection()
        row = db.execute(
            _FINISH if last_turn is None else _FINISH_WITH_STEP,
            {
                "run_id": run_id,
                "now": utcnow(),
                "new_status": status,
                "new_output": output,
                "new_error": error[:4000],
                "tokens_in": input_tokens,
                "tokens_out": output_tokens,
                "cost": float(cost_usd) if cost_usd is not None else None,
            },
        ).one_or_none()
        if row is None:
            return None
        if last_turn is not None:
            _insert_step(
                db,
                run_id,
                row.workspace_id,
                row.step_count - 1,
                kind="model",
                content=last_turn.content,
                data=last_turn.data,
                duration_ms=last_turn.duration_ms,
            )
        run = _finished_run(row)
        finished = Finished(record_run_event(session, run), record_run_notice(session, run))
        record_run_usage(session, run)
        return finished


def _finished_run(row: Row[Any]) -> Run:
    """The run ``_FINISH`` returned, as an unattached ``Run`` (read only: it is already written)."""
    values = dict(row._mapping)
    values["meta"] = values.pop("metadata")
    return Run(**values)


def cancel_if_queued(run_id: str) -> Finished | None:
    """Cancel a run that no executor has started; None if one already has.

    Like ``claim_run``, one compare-and-set (``UPDATE ... WHERE status = 'queued'``): a
    claim at the same moment either wins (and the run is cancelled by its signal) or
    loses; the two can never both think they own the run.
    The caller enqueues the ``run.cancelled`` deliveries it records once it returns.
    """
    now = utcnow()
    with session_scope() as session:
        won = session.exec(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == "queued")
            .values(
                status="cancelled",
                error="Cancelled before it started.",
                finished_at=now,
                updated_at=now,
                cancel_requested_at=now,
            )
        ).rowcount
        if won != 1:
            return None
        run = session.get(Run, run_id)
        assert run is not None
        finished = Finished(record_run_event(session, run))
        record_run_usage(session, run)
        return finished


def sweep_lost_runs(
    *, stale_after: timedelta, notices: list[notifications.Announcement] | None = None
) -> list[tuple[str, str]]:
    """Fail running runs whose executor stopped heartbeating; returns (run id, workspace id).

    Safe to run in many processes at once (workers' ticks, every app process): each run
    is moved by a compare-and-set (``UPDATE ... WHERE status = 'running' AND heartbeat_at
    < cutoff``) in its own transaction, so exactly one sweeper fails it, records its
    ``run.failed`` webhook deliveries (sent by the delivery sweep) and counts its usage,
    and a run that finished or heartbeated meanwhile is left alone. The notifications of
    failed scheduled runs are appended to ``notices`` (announce them after this returns).
    """
    now = utcnow()
    cutoff = now - stale_after
    with session_scope() as session:
        candidates = session.exec(
            select(Run.id).where(Run.status == "running", col(Run.heartbeat_at) < cutoff).limit(500)
        ).all()
    lost: list[tuple[str, str]] = []
    for run_id in candidates:
        with session_scope() as session:
            won = session.exec(
                update(Run)
                .where(col(Run.id) == run_id, col(Run.status) == "running", col(Run.heartbeat_at) < cutoff)
                .values(status="failed", error=WORKER_LOST, finished_at=now, updated_at=now)
            ).rowcount
            if won != 1:
                continue
            run = session.get(Run, run_id)
            assert run is not None
            record_run_event(session, run)
            notice = record_run_notice(session, run)
            if notice is not None and notices is not None:
                notices.append(notice)
            record_run_usage(session, run)
            lost.append((run.id, run.workspace_id))
    return lost


def waiting_runs(*, queued_before: timedelta, limit: int = 500) -> list[str]:
    """Runs still ``queued`` that were queued longer ago than ``queued_before``, oldest first.

    A queue that lost its jobs (a Redis restart without persistence, a job that failed
    before it could claim its run) leaves such runs behind: enqueueing them again is
    harmless (a job still queued under the run's key is not queued twice, and the claim
    lets one executor through), so the recovery sweep does (``services.workers``).
    """
    cutoff = utcnow() - queued_before
    with session_scope() as session:
        return list(
            session.exec(
                select(Run.id)
                .where(Run.status == "queued", col(Run.updated_at) < cutoff)
                .order_by(col(Run.updated_at))
                .limit(limit)
            ).all()
        )
