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

import bisect
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    "unpriced_tokens",
    "duration_ms_sum",
    "duration_runs",
    *BUCKET_COLUMNS,
)
_INSERT_BATCH = 1_000


def usage_day(finished_at: datetime) -> date:
    """The rollup day of a run: the UTC date of its ``finished_at``."""
    moment = finished_at if finished_at.tzinfo is not None else finished_at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


# The lower bound of buckets 1 … 27 (bucket 0 starts at 0): a duration's bucket is how many
# of them it reaches, in Python (bisect) and in PostgreSQL (width_bucket) alike.
BUCKET_LOWER_BOUNDS = tuple(DURATION_BASE_MS * math.sqrt(2) ** (i - 1) for i in range(1, DURATION_BUCKETS))


def duration_bucket(duration_ms: float) -> int:
    """The histogram bucket of a duration (see ``models/usage.py``)."""
    return bisect.bisect_right(BUCKET_LOWER_BOUNDS, duration_ms)


def duration_ms(started_at: datetime, finished_at: datetime) -> int:
    """Whole milliseconds from start to finish (floored, never negative): exact, no float."""
    return max(0, (finished_at - started_at) // timedelta(milliseconds=1))


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
        counters["unpriced_tokens"] = facts.input_tokens + facts.output_tokens
    else:
        counters["cost_usd"] = Decimal(str(facts.cost_usd))
    if facts.started_at is not None:
        ms = duration_ms(facts.started_at, facts.finished_at)
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
    session.execute(_usage_upsert(session.get_bind().dialect.name), row)


@functools.cache
def _usage_upsert(dialect: str) -> Any:
    """The upsert of one run's row, built once per dialect; the row comes as parameters.

    Building it (an ``excluded`` sum for each of the ~40 counters) cost ~3 ms of CPU, and
    its cache key more, at the end of every run (bench/README.md, "Where the time goes").
    """
    table: Table = UsageDaily.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    changes = {name: table.c[name] + stmt.excluded[name] for name in COUNTER_COLUMNS}
    return stmt.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS), set_=changes | {"updated_at": stmt.excluded.updated_at}
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
    same rows. PostgreSQL aggregates in one ``INSERT ... SELECT`` (seconds for a million
    runs); SQLite streams the runs through ``aggregate``. Both count as ``record_run_usage``
    does (the property test in tests/runs/test_usage_rollup.py holds them to it).
    """
    table: Table = UsageDaily.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE usage_daily IN EXCLUSIVE MODE"))
    cleared = delete(table)
    if workspace_id is not None:
        cleared = cleared.where(table.c.workspace_id == workspace_id)
    session.execute(cleared)
    if session.get_bind().dialect.name == "postgresql":
        return _rebuild_in_postgresql(session, workspace_id)
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


def _rebuild_in_postgresql(session: Session, workspace_id: str | None) -> int:
    buckets = ",\n".join(f"count(*) FILTER (WHERE b = {i})" for i in range(DURATION_BUCKETS))
    only = "AND workspace_id = :workspace_id" if workspace_id is not None else ""
    # Only constants of this module are interpolated; the workspace id is a bound parameter.
    statement = f"""
INSERT INTO usage_daily ({", ".join(KEY_COLUMNS)}, {", ".join(COUNTER_COLUMNS)}, updated_at)
SELECT workspace_id, day, agent_id, member_id, model, trigger,
       count(*) FILTER (WHERE status = 'succeeded'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'cancelled'),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       coalesce(sum(cost_usd), 0), count(*) FILTER (WHERE cost_usd IS NULL),
       coalesce(sum(input_tokens + output_tokens) FILTER (WHERE cost_usd IS NULL), 0),
       coalesce(sum(ms), 0), count(ms),
       {buckets},
       now()
FROM (
    SELECT workspace_id, (finished_at AT TIME ZONE 'UTC')::date AS day, agent_id,
           left(coalesce(created_by, ''), 32) AS member_id,
           left(coalesce(agent_snapshot ->> 'model', ''), 120) AS model,
           left(trigger, 16) AS trigger, status, input_tokens, output_tokens, cost_usd, ms,
           width_bucket(ms::float8, CAST(:bounds AS float8[])) AS b
    FROM (
        SELECT runs.*,
               CASE WHEN started_at IS NOT NULL  -- greatest() would turn NULL into 0
                    THEN greatest(0, floor(extract(epoch FROM finished_at - started_at) * 1000))::bigint
               END AS ms
        FROM runs
        WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at IS NOT NULL {only}
    ) r
) s
GROUP BY workspace_id, day, agent_id, member_id, model, trigger
"""  # noqa: S608
    params: dict[str, Any] = {"bounds": list(BUCKET_LOWER_BOUNDS)}
    if workspace_id is not None:
        params["workspace_id"] = workspace_id
    return session.execute(text(statement), params).rowcount  # type: ignore[attr-defined, no-any-return]
