"""Usage: a daily rollup of finished runs, so the usage page never scans ``runs``.

One row per (workspace, UTC day, agent, member, model, trigger) holds counters that the
transaction finishing a run adds to (``runs/usage.py``). ``day`` is the UTC date of the
run's ``finished_at``. ``member_id`` and ``model`` are "" when a run has none (a run
started by no one, an agent without a model) so that the key never holds NULL, which
a unique key would treat as distinct on both dialects.

Durations (``finished_at - started_at``; a run cancelled before it started has none)
are summed and counted in a fixed histogram of ``DURATION_BUCKETS`` columns ``d00`` …
``d27``: bucket 0 holds durations under 100 ms, bucket *i* durations in
[100 ms·√2^(i-1), 100 ms·√2^i), the last one everything from about 13.6 minutes up.
Percentiles are read from the summed buckets (``usage.percentile_ms``), so p50 and p95
are exact to the bucket (within ±19 %) however many days and rows a window spans.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Index, Numeric
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import utcnow

DURATION_BUCKETS = 28
DURATION_BASE_MS = 100.0
BUCKET_COLUMNS = tuple(f"d{i:02d}" for i in range(DURATION_BUCKETS))


class UsageDaily(SQLModel, table=True):
    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_workspace_id_agent_id_day", "workspace_id", "agent_id", "day"),)

    # The primary key is the rollup key: the finishing transaction upserts on it.
    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=32)
    day: date = Field(primary_key=True, sa_type=Date)
    agent_id: str = Field(primary_key=True, max_length=32)
    member_id: str = Field(primary_key=True, max_length=32)
    model: str = Field(primary_key=True, max_length=120)
    trigger: str = Field(primary_key=True, max_length=16)

    runs_succeeded: int = Field(default=0)
    runs_failed: int = Field(default=0)
    runs_cancelled: int = Field(default=0)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    # The sum of the priced runs' costs; runs of a model without a price count in
    # ``runs_unpriced`` instead (their cost is unknown, not zero).
    cost_usd: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 6))
    runs_unpriced: int = Field(default=0)
    # Tokens (in + out) of the unpriced runs: what a monthly token budget caps.
    unpriced_tokens: int = Field(default=0, sa_type=BigInteger)
    duration_ms_sum: int = Field(default=0, sa_type=BigInteger)
    duration_runs: int = Field(default=0)
    d00: int = Field(default=0)
    d01: int = Field(default=0)
    d02: int = Field(default=0)
    d03: int = Field(default=0)
    d04: int = Field(default=0)
    d05: int = Field(default=0)
    d06: int = Field(default=0)
    d07: int = Field(default=0)
    d08: int = Field(default=0)
    d09: int = Field(default=0)
    d10: int = Field(default=0)
    d11: int = Field(default=0)
    d12: int = Field(default=0)
    d13: int = Field(default=0)
    d14: int = Field(default=0)
    d15: int = Field(default=0)
    d16: int = Field(default=0)
    d17: int = Field(default=0)
    d18: int = Field(default=0)
    d19: int = Field(default=0)
    d20: int = Field(default=0)
    d21: int = Field(default=0)
    d22: int = Field(default=0)
    d23: int = Field(default=0)
    d24: int = Field(default=0)
    d25: int = Field(default=0)
    d26: int = Field(default=0)
    d27: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow)
