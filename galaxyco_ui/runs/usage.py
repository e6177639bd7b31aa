"""The usage rollup: add a finished run to ``usage_daily``, or rebuild it from ``runs``.

``record_run_usage`` runs inside the transaction that puts a run in its terminal state
(``store.finish_run``, ``store.cancel_if_queued``, ``store.sweep_lost_runs``): the run and
its counters commit together or not at all, and a run is counted once because only the
transaction that moves it out of queued/running calls it. It is one
``INSERT ... ON CONFLICT (key) DO UPDATE SET counter = counter + excluded.counter``
statement, atomic on PostgreSQL and SQLite alike.

``rebuild_usage`` (``python -m galaxyco_ui.cli backfill-usage``) recomputes the rows from
the runs in one transaction and is idempotent. It first locks the table against writers
(PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``; SQLite's database write lock, taken by
its first DELETE), so a run finishing meanwhile is either in the scan or added after it,
never both nor neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, insert, text
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from galaxyco_ui.models import Run, UsageDaily, utcnow
from galaxyco_ui.models.runs import TERMINAL_STATUSES
from galaxyco_ui.models.usage import BUCKET_COLUMNS, DURATION_BASE_MS, DURATION_BUCKETS

KEY_COLUMNS = ("workspace_id", "day", "agent_id", "member_id", "model", "trigger")
COUNTER_COLUMNS = (
    "runs_succeeded",
    "runs_failed",
    "runs_cancelled",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "runs_unpriced",
    "duration_ms_sum",
    "duration_runs",
    *BUCKET_COLUMNS,
)
_INSERT_BATCH = 1_000


def usage_day(finished_at: datetime) -> date:
    """The rollup day of a run: the UTC date of its ``finished_at``."""
    moment = finished_at if finished_at.tzinfo is not None else finished_at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def duration_bucket(duration_ms: float) -> int:
    """The histogram bucket of a duration (see ``models/usage.py``)."""
    if duration_ms < DURATION_BASE_MS:
        return 0
    return min(DURATION_BUCKETS - 1, math.floor(2 * math.log2(duration_ms / DURATION_BASE_MS)) + 1)


def bucket_bounds(index: int) -> tuple[float, float]:
    """The [low, high) milliseconds of bucket ``index`` (the last one is given √2 of width)."""
    if index == 0:
        return 0.0, DURATION_BASE_MS
    low = DURATION_BASE_MS * math.sqrt(2) ** (index - 1)
    return low, low * math.sqrt(2)


def percentile_ms(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q ≤ 1) of the durations counted in ``buckets``, or None.

    Linear within the bucket that holds the rank, so the answer is within that bucket's
    bounds (±19 % around the true value).
    """
    total = sum(buckets)
    if total <= 0:
        return None
    rank, seen = q * total, 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            low, high = bucket_bounds(index)
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return bucket_bounds(len(buckets) - 1)[1]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """The columns of a finished run that the rollup reads."""

    workspace_id: str
    agent_id: str
    member_id: str
    model: str
    trigger: str
    status: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | float | None
    started_at: datetime | None
    finished_at: datetime


def _key(facts: RunFacts) -> tuple[str, date, str, str, str, str]:
    return (
        facts.workspace_id,
        usage_day(facts.finished_at),
        facts.agent_id,
        facts.member_id[:32],
        facts.model[:120],
        facts.trigger[:16],
    )


def _counters(facts: RunFacts) -> dict[str, Any]:
    counters: dict[str, Any] = dict.fromkeys(COUNTER_COLUMNS, 0)
    counters["cost_usd"] = Decimal(0)
    counters[f"runs_{facts.status}"] = 1
    counters["input_tokens"], counters["output_tokens"] = facts.input_tokens, facts.output_tokens
    if facts.cost_usd is None:
        counters["runs_unpriced"] = 1
    else:
        counters["cost_usd"] = Decimal(str(facts.cost_usd))
    if facts.started_at is not None:
        ms = max(0, int((facts.finished_at - facts.started_at).total_seconds() * 1000))
        counters["duration_ms_sum"], counters["duration_runs"] = ms, 1
        counters[BUCKET_COLUMNS[duration_bucket(ms)]] = 1
    return counters


def facts_of(run: Run) -> RunFacts:
    assert run.finished_at is not None and run.status in TERMINAL_STATUSES
    return RunFacts(
        workspace_id=run.workspace_id,
        agent_id=run.agent_id,
        member_id=run.created_by or "",
        model=str((run.agent_snapshot or {}).get("model") or ""),
        trigger=run.trigger,
        status=run.status,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_usd,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def record_run_usage(session: Session, run: Run) -> None:
    """Add ``run`` (just put in its terminal state, in ``session``'s transaction) to its day's row."""
    facts = facts_of(run)
    row = dict(zip(KEY_COLUMNS, _key(facts), strict=True)) | _counters(facts) | {"updated_at": utcnow()}
    table: Table = UsageDaily.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).values(**row)
    changes = {name: table.c[name] + stmt.excluded[name] for name in COUNTER_COLUMNS}
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS), set_=changes | {"updated_at": stmt.excluded.updated_at}
        )
    )


def aggregate(runs: Iterable[RunFacts]) -> dict[tuple[str, date, str, str, str, str], dict[str, Any]]:
    """The rollup rows of ``runs``, keyed like the table (what a scan of ``runs`` gives)."""
    rows: dict[tuple[str, date, str, str, str, str], dict[str, Any]] = {}
    for facts in runs:
        counters = _counters(facts)
        row = rows.setdefault(_key(facts), dict.fromkeys(COUNTER_COLUMNS, 0) | {"cost_usd": Decimal(0)})
        for name in COUNTER_COLUMNS:
            row[name] += counters[name]
    return rows


def rebuild_usage(session: Session, *, workspace_id: str | None = None) -> int:
    """Recompute ``usage_daily`` (one workspace's rows, or all) from ``runs``; returns rows written.

    The caller owns the transaction (``session_scope()``); running it twice gives the
    same rows.
    """
    table: Table = UsageDaily.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE usage_daily IN EXCLUSIVE MODE"))
    cleared = delete(table)
    if workspace_id is not None:
        cleared = cleared.where(table.c.workspace_id == workspace_id)
    session.execute(cleared)
    query = core_select(
        col(Run.workspace_id),
        col(Run.agent_id),
        col(Run.created_by),
        col(Run.agent_snapshot)["model"].as_string(),
        col(Run.trigger),
        col(Run.status),
        col(Run.input_tokens),
        col(Run.output_tokens),
        col(Run.cost_usd),
        col(Run.started_at),
        col(Run.finished_at),
    ).where(col(Run.status).in_(TERMINAL_STATUSES), col(Run.finished_at).is_not(None))
    if workspace_id is not None:
        query = query.where(col(Run.workspace_id) == workspace_id)
    scanned = session.execute(query.execution_options(yield_per=10_000))
    rows = aggregate(
        RunFacts(
            workspace_id=ws,
            agent_id=agent,
            member_id=member or "",
            model=model or "",
            trigger=trigger,
            status=status,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            started_at=started,
            finished_at=finished,
        )
        for ws, agent, member, model, trigger, status, tokens_in, tokens_out, cost, started, finished in scanned
    )
    now = utcnow()
    values = [
        dict(zip(KEY_COLUMNS, key, strict=True)) | row | {"updated_at": now} for key, row in rows.items()
    ]
    for start in range(0, len(values), _INSERT_BATCH):
        session.execute(insert(table), values[start : start + _INSERT_BATCH])
    return len(values)
