"""Usage: what the workspace's runs cost and did, per day, read from the daily rollup.

Every figure comes from ``usage_daily`` (``runs/usage.py`` keeps it in the transaction
that finishes each run), never from a scan of ``runs``, so a window reads a few rows per
day however many runs it holds. Days are UTC days of the runs' ``finished_at``; a run
that is still queued or running is not counted yet. Durations p50/p95 come from summed
fixed histogram buckets (exact to a bucket, ±19 %). Everyone in the workspace may read
usage (``VIEW_WORKSPACE``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Table, false, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, UsageDaily, User, Workspace, WorkspaceMember
from galaxyco_ui.models.runs import TRIGGER_LABELS as TRIGGER_LABELS  # the run screens name triggers so
from galaxyco_ui.models.runs import TRIGGERS
from galaxyco_ui.models.usage import BUCKET_COLUMNS
from galaxyco_ui.runs.usage import percentile_ms
from galaxyco_ui.services.agents import live_agent
from galaxyco_ui.services.audit import csv_cell, file_slug
from galaxyco_ui.services.validation import lookup_id, text_problem

PERIODS: dict[str, str] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
}
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
NOBODY = "nobody"  # the member filter's value for runs started by no one
NOBODY_LABEL = "No one (schedule or trigger)"
TABLE_MAX_ROWS = 200
EXPORT_MAX_ROWS = 50_000
# The titles of the columns that identify a table row, in the page's table and the CSV alike.
ROW_KEY_TITLES = ("Day (UTC)", "Agent", "Member", "Model", "Trigger")
MODEL_MAX_CHARS = 120
_TABLE: Table = UsageDaily.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes


class UsageFilters(BaseModel):
    """The checked filters of a report ("" = any)."""

    period: str = "30d"
    agent_id: str = ""
    member_id: str = ""
    model: str = ""
    trigger: str = ""


class UsageDay(BaseModel):
    day: str  # YYYY-MM-DD (UTC)
    succeeded: int
    failed: int
    cancelled: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    success_rate: float | None  # percent of the day's finished runs, None without runs
    p50_ms: float | None
    p95_ms: float | None


class UsageBar(BaseModel):
    """One bar of a cost breakdown (by agent, member or model)."""

    key: str
    label: str
    runs: int
    cost_usd: float


class UsageTotals(BaseModel):
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    success_rate: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_runs: int  # runs of models without a price: their cost is unknown, not in cost_usd
    p50_ms: float | None
    p95_ms: float | None


class UsageRow(BaseModel):
    """One line of the table: one day, agent, member, model and trigger."""

    day: str
    agent: str
    member: str
    model: str
    trigger: str
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_runs: int
    average_ms: float | None


class UsageReport(BaseModel):
    filters: UsageFilters
    start: str  # first day (UTC), inclusive
    end: str  # last day (UTC), inclusive
    days: list[UsageDay]
    by_agent: list[UsageBar]
    by_member: list[UsageBar]
    by_model: list[UsageBar]
    totals: UsageTotals
    rows: list[UsageRow]  # the first TABLE_MAX_ROWS, newest day first
    rows_total: int


class UsageOption(BaseModel):
    value: str
    label: str


class UsageFilterOptions(BaseModel):
    agents: list[UsageOption]
    members: list[UsageOption]
    models: list[UsageOption]
    triggers: list[UsageOption]
    periods: list[UsageOption]


class UsageExport(BaseModel):
    filename: str
    content: str
    rows: int
    capped: bool


class AgentMonthUsage(BaseModel):
    """An agent's runs finished this calendar month (UTC) and what they cost."""

    month: str  # "November 2026"
    runs: int
    cost_usd: float
    unpriced_runs: int


def get_usage_report(
    *,
    ctx: TenantContext,
    period: object = "30d",
    agent_id: object = "",
    member_id: object = "",
    model: object = "",
    trigger: object = "",
    today: date | None = None,
) -> UsageReport:
    """Every chart and the table of the usage page for one period and set of filters.

    Raises:
        ValidationError: an unknown period or trigger, or a model name that is not text.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    checked = _checked(period=period, agent_id=agent_id, member_id=member_id, model=model, trigger=trigger)
    filters = checked[0]
    start, end = _window(filters.period, today)
    where = _where(ctx, checked, start, end)
    with session_scope() as session:
        per_day = {row.day: row for row in session.execute(_sums(where, _TABLE.c.day, buckets=True))}
        days = [
            _day(start + timedelta(days=i), per_day.get(start + timedelta(days=i)))
            for i in range((end - start).days + 1)
        ]
        buckets = [sum(int(getattr(r, name)) for r in per_day.values()) for name in BUCKET_COLUMNS]
        c = _TABLE.c
        # One query for the three breakdowns: at most agents x members x models rows.
        combos = list(session.execute(_sums(where, c.agent_id, c.member_id, c.model)))
        stored = _table_page(session, where, limit=TABLE_MAX_ROWS)
        rows_total = sum(int(r.rollup_rows) for r in per_day.values())
        agents = _agent_names(session, ctx)
        members = _user_names(session, {r.member_id for r in combos} | {r["member_id"] for r in stored})
        by_agent = _bars(combos, "agent_id", agents)
        by_member = _bars(combos, "member_id", members)
        by_model = _bars(combos, "model", {"": "(no model)"})
        rows = _row_views(stored, agents, members)
    succeeded, failed, cancelled = (
        sum(getattr(d, s) for d in days) for s in ("succeeded", "failed", "cancelled")
    )
    totals = UsageTotals(
        runs=succeeded + failed + cancelled,
        succeeded=succeeded,
        failed=failed,
        cancelled=cancelled,
        success_rate=_rate(succeeded, succeeded + failed + cancelled),
        input_tokens=sum(d.input_tokens for d in days),
        output_tokens=sum(d.output_tokens for d in days),
        cost_usd=round(float(sum((Decimal(str(r.cost_usd)) for r in per_day.values()), Decimal(0))), 6),
        unpriced_runs=sum(int(r.runs_unpriced) for r in per_day.values()),
        p50_ms=percentile_ms(buckets, 0.5),
        p95_ms=percentile_ms(buckets, 0.95),
    )
    return UsageReport(
        filters=filters,
        start=start.isoformat(),
        end=end.isoformat(),
        days=days,
        by_agent=by_agent,
        by_member=by_member,
        by_model=by_model,
        totals=totals,
        rows=rows,
        rows_total=rows_total,
    )


def list_usage_filter_options(*, ctx: TenantContext) -> UsageFilterOptions:
    """The choices of the usage page's filters: agents (deleted ones marked), members, models seen."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agents = session.exec(
            select(Agent.id, Agent.name, Agent.deleted_at).where(Agent.workspace_id == ctx.workspace_id)
        ).all()
        members = _member_names(session, ctx)
        models = session.execute(
            core_select(_TABLE.c.model).where(_TABLE.c.workspace_id == ctx.workspace_id).distinct()
        ).scalars()
        model_names = sorted(m for m in models if m)
    return UsageFilterOptions(
        agents=sorted(
            (UsageOption(value=a, label=f"{n} (deleted)" if gone else n) for a, n, gone in agents),
            key=lambda o: o.label.casefold(),
        ),
        members=[
            UsageOption(value=NOBODY, label=NOBODY_LABEL),
            *sorted(
                (UsageOption(value=k, label=v) for k, v in members.items() if k),
                key=lambda o: o.label.casefold(),
            ),
        ],
        models=[UsageOption(value=m, label=m) for m in model_names],
        triggers=[UsageOption(value=t, label=TRIGGER_LABELS[t]) for t in TRIGGERS],
        periods=[UsageOption(value=k, label=v) for k, v in PERIODS.items()],
    )


def export_usage_csv(
    *,
    ctx: TenantContext,
    period: object = "30d",
    agent_id: object = "",
    member_id: object = "",
    model: object = "",
    trigger: object = "",
    today: date | None = None,
    max_rows: int = EXPORT_MAX_ROWS,
) -> UsageExport:
    """The report's table (every row, newest day first) as CSV.

    Cells a spreadsheet would run as a formula get a leading apostrophe (the audit
    export's rule). Raises as ``get_usage_report``.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    checked = _checked(period=period, agent_id=agent_id, member_id=member_id, model=model, trigger=trigger)
    filters = checked[0]
    start, end = _window(filters.period, today)
    where = _where(ctx, checked, start, end)
    max_rows = max(1, min(max_rows, EXPORT_MAX_ROWS))
    with session_scope() as session:
        rows = _table_rows(session, ctx, where, limit=max_rows + 1)
        workspace_name = _workspace_name(session, ctx)
    capped = len(rows) > max_rows
    rows = rows[:max_rows]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            *ROW_KEY_TITLES,
            "Runs",
            "Succeeded",
            "Failed",
            "Cancelled",
            "Input tokens",
            "Output tokens",
            "Cost (USD)",
            "Unpriced runs",
            "Average duration (ms)",
        ]
    )
    for r in rows:
        writer.writerow(
            [csv_cell(c) for c in (r.day, r.agent, r.member, r.model, r.trigger)]
            + [r.runs, r.succeeded, r.failed, r.cancelled, r.input_tokens, r.output_tokens]
            + [f"{r.cost_usd:.6f}", r.unpriced_runs, "" if r.average_ms is None else round(r.average_ms)]
        )
    return UsageExport(
        filename=f"galaxyco-usage-{file_slug(workspace_name, ctx.workspace_id)}-{start}-to-{end}.csv",
        content=out.getvalue(),
        rows=len(rows),
        capped=capped,
    )


def get_agent_month_usage(*, ctx: TenantContext, agent_id: str, today: date | None = None) -> AgentMonthUsage:
    """``agent_id``'s runs finished since the first of this month (UTC) and their cost.

    Raises:
        NotFoundError: no such agent in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    day = today or datetime.now(UTC).date()
    first = day.replace(day=1)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        row = session.execute(
            core_select(
                func.coalesce(
                    func.sum(_TABLE.c.runs_succeeded + _TABLE.c.runs_failed + _TABLE.c.runs_cancelled), 0
                ),
                func.coalesce(func.sum(_TABLE.c.cost_usd), 0),
                func.coalesce(func.sum(_TABLE.c.runs_unpriced), 0),
            ).where(
                _TABLE.c.workspace_id == ctx.workspace_id,
                _TABLE.c.agent_id == agent.id,
                _TABLE.c.day >= first,
                _TABLE.c.day <= day,
            )
        ).one()
    return AgentMonthUsage(
        month=first.strftime("%B %Y"), runs=int(row[0]), cost_usd=float(row[1]), unpriced_runs=int(row[2])
    )


# ---------------------------------------------------------------- helpers


def _checked(
    *, period: object, agent_id: object, member_id: object, model: object, trigger: object
) -> tuple[UsageFilters, bool]:
    """The filters as the queries use them, and whether one of them can match no row.

    Every argument is hostile: an unknown period or trigger is a field error; an id or a
    model name no row could hold (a NUL, a lone surrogate, a megabyte) matches nothing.
    """
    errors: dict[str, str] = {}
    if period not in PERIODS:
        errors["period"] = "Choose a period from the list."
    if trigger not in ("", *TRIGGERS):
        errors["trigger"] = "Choose a trigger from the list."
    if not isinstance(model, str):
        errors["model"] = "Choose a model from the list."
    if errors:
        raise ValidationError(errors)
    ids = {"agent_id": agent_id, "member_id": member_id}
    checked = {name: (lookup_id(value) or "") if value else "" for name, value in ids.items()}
    impossible = any(value and not checked[name] for name, value in ids.items())
    clean_model = str(model)
    if len(clean_model) > MODEL_MAX_CHARS or text_problem(clean_model):
        clean_model, impossible = "", True
    filters = UsageFilters(period=str(period), model=clean_model, trigger=str(trigger), **checked)
    return filters, impossible


def _window(period: str, today: date | None) -> tuple[date, date]:
    end = today or datetime.now(UTC).date()
    if period == "month":
        return end.replace(day=1), end
    return end - timedelta(days=PERIOD_DAYS[period] - 1), end


def _where(
    ctx: TenantContext, checked: tuple[UsageFilters, bool], start: date, end: date
) -> list[ColumnElement[bool]]:
    filters, impossible = checked
    c = _TABLE.c
    where: list[ColumnElement[bool]] = [c.workspace_id == ctx.workspace_id, c.day >= start, c.day <= end]
    if impossible:
        where.append(false())
    if filters.agent_id:
        where.append(c.agent_id == filters.agent_id)
    if filters.member_id:
        where.append(c.member_id == ("" if filters.member_id == NOBODY else filters.member_id))
    if filters.model:
        where.append(c.model == filters.model)
    if filters.trigger:
        where.append(c.trigger == filters.trigger)
    return where


def _sums(where: Sequence[ColumnElement[bool]], *group: Any, buckets: bool = False) -> Any:
    c = _TABLE.c
    columns = [
        *group,
        func.sum(c.runs_succeeded).label("runs_succeeded"),
        func.sum(c.runs_failed).label("runs_failed"),
        func.sum(c.runs_cancelled).label("runs_cancelled"),
        func.sum(c.input_tokens).label("input_tokens"),
        func.sum(c.output_tokens).label("output_tokens"),
        func.sum(c.cost_usd).label("cost_usd"),
        func.sum(c.runs_unpriced).label("runs_unpriced"),
        func.count().label("rollup_rows"),
    ]
    if buckets:
        columns += [func.sum(c[name]).label(name) for name in BUCKET_COLUMNS]
    return core_select(*columns).where(*where).group_by(*group)


def _day(day: date, row: Any) -> UsageDay:
    if row is None:
        return UsageDay(
            day=day.isoformat(),
            succeeded=0,
            failed=0,
            cancelled=0,
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
            success_rate=None,
            p50_ms=None,
            p95_ms=None,
        )
    succeeded, failed, cancelled = int(row.runs_succeeded), int(row.runs_failed), int(row.runs_cancelled)
    buckets = [int(getattr(row, name)) for name in BUCKET_COLUMNS]
    return UsageDay(
        day=day.isoformat(),
        succeeded=succeeded,
        failed=failed,
        cancelled=cancelled,
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        cost_usd=round(float(row.cost_usd), 6),
        success_rate=_rate(succeeded, succeeded + failed + cancelled),
        p50_ms=percentile_ms(buckets, 0.5),
        p95_ms=percentile_ms(buckets, 0.95),
    )


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _bars(combos: Sequence[Any], key: str, names: dict[str, str]) -> list[UsageBar]:
    """The cost breakdown by ``key`` ("agent_id", "member_id" or "model") of the combined sums."""
    runs: dict[str, int] = {}
    cost: dict[str, Decimal] = {}
    for row in combos:
        value = getattr(row, key)
        runs[value] = (
            runs.get(value, 0) + int(row.runs_succeeded) + int(row.runs_failed) + int(row.runs_cancelled)
        )
        cost[value] = cost.get(value, Decimal(0)) + Decimal(str(row.cost_usd))
    bars = [
        UsageBar(
            key=value,
            label=names.get(value, value or "—"),
            runs=runs[value],
            cost_usd=round(float(cost[value]), 6),
        )
        for value in runs
    ]
    return sorted(bars, key=lambda b: (-b.cost_usd, -b.runs, b.label))


def _agent_names(session: Session, ctx: TenantContext) -> dict[str, str]:
    rows = session.exec(select(Agent.id, Agent.name).where(Agent.workspace_id == ctx.workspace_id)).all()
    return dict(rows)


def _member_names(session: Session, ctx: TenantContext) -> dict[str, str]:
    """Everyone who is or was a member and started runs here, by id ("" = nobody)."""
    ids = set(
        session.execute(
            core_select(_TABLE.c.member_id).where(_TABLE.c.workspace_id == ctx.workspace_id).distinct()
        ).scalars()
    )
    ids |= set(
        session.exec(
            select(WorkspaceMember.user_id).where(WorkspaceMember.workspace_id == ctx.workspace_id)
        ).all()
    )
    ids.discard("")
    users = (
        session.exec(select(User.id, User.name, User.email).where(col(User.id).in_(ids))).all() if ids else []
    )
    return {"": NOBODY_LABEL} | {uid: name or email for uid, name, email in users}


def _user_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Names of the members ``ids`` ("" = nobody: the runs a schedule started)."""
    ids = ids - {""}
    users = (
        session.exec(select(User.id, User.name, User.email).where(col(User.id).in_(ids))).all() if ids else []
    )
    return {"": NOBODY_LABEL} | {uid: name or email for uid, name, email in users}


def _table_page(session: Session, where: Sequence[ColumnElement[bool]], *, limit: int) -> list[Any]:
    """The first ``limit`` rollup rows, newest day first (the primary key's order: no full sort)."""
    c = _TABLE.c
    return list(
        session.execute(
            core_select(_TABLE)
            .where(*where)
            .order_by(c.day.desc(), c.cost_usd.desc(), c.agent_id, c.member_id, c.model, c.trigger)
            .limit(limit)
        ).mappings()
    )


def _table_rows(
    session: Session, ctx: TenantContext, where: Sequence[ColumnElement[bool]], *, limit: int
) -> list[UsageRow]:
    stored = _table_page(session, where, limit=limit)
    members = _user_names(session, {r["member_id"] for r in stored})
    return _row_views(stored, _agent_names(session, ctx), members)


def _row_views(stored: Sequence[Any], agents: dict[str, str], members: dict[str, str]) -> list[UsageRow]:
    return [
        UsageRow(
            day=r["day"].isoformat(),
            agent=agents.get(r["agent_id"], r["agent_id"]),
            member=members.get(r["member_id"], r["member_id"]),
            model=r["model"],
            trigger=r["trigger"],
            runs=r["runs_succeeded"] + r["runs_failed"] + r["runs_cancelled"],
            succeeded=r["runs_succeeded"],
            failed=r["runs_failed"],
            cancelled=r["runs_cancelled"],
            input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"],
            cost_usd=round(float(r["cost_usd"]), 6),
            unpriced_runs=r["runs_unpriced"],
            average_ms=(r["duration_ms_sum"] / r["duration_runs"]) if r["duration_runs"] else None,
        )
        for r in stored
    ]


def _workspace_name(session: Session, ctx: TenantContext) -> str:
    workspace = session.get(Workspace, ctx.workspace_id)
    return workspace.name if workspace else ""
