"""Monthly budgets: what a scope spent this month, whether a run may start or go on, and alerts.

A budget (``models/budgets.py``) caps a workspace, one agent or one member for each UTC
calendar month; it resets at the first instant of the next month. What a scope spent is

- this month's ``usage_daily`` rows (runs that finished this month): ``cost_usd`` for the
  dollar cap, ``unpriced_tokens`` for the token cap of models without a price; plus
- the runs of that scope still in flight (queued or running): the running totals the
  executor persists after every model turn (``runs.cost_usd``; a run whose cost is
  unknown counts its tokens instead).

A run moves from "in flight" to the rollup in the one transaction that finishes it
(``store.finish_run``), and ``spending`` reads both in one statement, so a run is never
counted twice nor missed.

- **Start** (``check_start``, inside ``services.runs``' start transaction): a run whose
  workspace, agent or member is at or over a cap is refused with ``BudgetExceededError``
  naming the budget and its reset date.
- **Every model turn** (``check_run``, in the transaction that persists the turn): the
  run's caps are re-read with a row lock (PostgreSQL; SQLite's write lock does the same),
  so the turns of one workspace's runs are checked one after another and each sees the
  turns committed before it. A run over a cap stops ("Budget reached: …"). Overshoot is
  therefore bounded by the turns already in flight: at most one turn per running run.
- **Alerts**: the first check that sees 80 % and then 100 % of a cap in a month inserts a
  ``BudgetAlert`` row (``ON CONFLICT DO NOTHING``, both dialects); only the transaction
  whose insert went in reports it, so each alert goes out once per period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, case, func, or_, true
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from galaxyco_ui import notifications
from galaxyco_ui.errors import BudgetExceededError
from galaxyco_ui.models import Agent, Budget, BudgetAlert, Run, UsageDaily, User, utcnow
from galaxyco_ui.models.budgets import ALERT_THRESHOLDS

IN_FLIGHT = ("queued", "running")
SCOPE_ORDER = ("workspace", "agent", "member")


# ---------------------------------------------------------------- the period


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s UTC month."""
    moment = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def reset_at(now: datetime) -> datetime:
    """When the budgets of ``now``'s month reset: the first instant of the next UTC month."""
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def period_of(now: datetime) -> str:
    """``now``'s UTC month as ``BudgetAlert.period`` holds it ("2026-11")."""
    return month_start(now).strftime("%Y-%m")


def reset_label(now: datetime) -> str:
    """The reset date in words: "1 December 2026"."""
    reset = reset_at(now)
    return f"{reset.day} {reset:%B %Y}"


def seconds_until_reset(now: datetime) -> int:
    return max(1, int((reset_at(now) - now).total_seconds()) + 1)


# ---------------------------------------------------------------- caps and spending


@dataclass(frozen=True, slots=True)
class Cap:
    """One measure of one budget: ``limit`` dollars (``usd``) or tokens (``tokens``)."""

    scope: str  # "workspace" | "agent" | "member"
    subject_id: str  # "" for the workspace
    measure: str  # "usd" | "tokens"
    limit: Decimal


@dataclass(frozen=True, slots=True)
class Spend:
    """Month-to-date spending of the scopes one run belongs to: (scope, measure) → amount."""

    amounts: dict[tuple[str, str], Decimal]

    def of(self, cap: Cap) -> Decimal:
        return self.amounts.get((cap.scope, cap.measure), Decimal(0))


def caps_of(budgets: Iterable[Budget]) -> tuple[Cap, ...]:
    """The caps the ``budgets`` set, workspace first, dollars before tokens."""
    caps = []
    for budget in budgets:
        if budget.monthly_usd is not None:
            caps.append(Cap(budget.scope, budget.subject_id, "usd", Decimal(str(budget.monthly_usd))))
        if budget.monthly_tokens is not None:
            caps.append(Cap(budget.scope, budget.subject_id, "tokens", Decimal(budget.monthly_tokens)))
    return tuple(sorted(caps, key=lambda c: (SCOPE_ORDER.index(c.scope), c.measure != "usd")))


def run_caps(
    session: Session, workspace_id: str, agent_id: str, member_id: str, *, lock: bool = False
) -> tuple[Cap, ...]:
    """The caps that apply to a run of ``agent_id`` started by ``member_id`` (one indexed query).

    ``lock`` takes a row lock on those budgets until the transaction ends (PostgreSQL;
    SQLite ignores it and serializes writers with its database lock instead).
    """
    scope, subject = col(Budget.scope), col(Budget.subject_id)
    scopes = [scope == "workspace", and_(scope == "agent", subject == agent_id)]
    if member_id:
        scopes.append(and_(scope == "member", subject == member_id))
    query = select(Budget).where(Budget.workspace_id == workspace_id, or_(*scopes)).order_by(col(Budget.id))
    if lock:
        query = query.with_for_update()
    return caps_of(session.exec(query).all())


def has_budgets(session: Session, workspace_id: str, agent_id: str, member_id: str) -> bool:
    """Whether any budget applies to such a run (the executor's fast path asks once, at claim)."""
    return bool(run_caps(session, workspace_id, agent_id, member_id))


def _sum(expression: Any, condition: Any = None) -> Any:
    value = expression if condition is None else case((condition, expression), else_=0)
    return func.coalesce(func.sum(value), 0)


def spending(session: Session, workspace_id: str, agent_id: str, member_id: str, now: datetime) -> Spend:
    """Month-to-date spending of the workspace, the agent and the member, in one statement.

    One statement is one snapshot (PostgreSQL, read committed): a run finishing meanwhile
    is either still in flight or already in the rollup, never both nor neither.
    """
    start = month_start(now)
    first_day, next_day = start.date(), reset_at(now).date()
    u = UsageDaily.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    r = Run.__table__.c  # type: ignore[attr-defined]
    unpriced_run_tokens = case((r.cost_usd.is_(None), r.input_tokens + r.output_tokens), else_=0)
    rollup = (
        core_select(
            _sum(u.cost_usd),
            _sum(u.unpriced_tokens),
            _sum(u.cost_usd, u.agent_id == agent_id),
            _sum(u.unpriced_tokens, u.agent_id == agent_id),
            _sum(u.cost_usd, u.member_id == member_id),
            _sum(u.unpriced_tokens, u.member_id == member_id),
        )
        .where(u.workspace_id == workspace_id, u.day >= first_day, u.day < next_day)
        .subquery()
    )
    flight = (
        core_select(
            _sum(func.coalesce(r.cost_usd, 0)),
            _sum(unpriced_run_tokens),
            _sum(func.coalesce(r.cost_usd, 0), r.agent_id == agent_id),
            _sum(unpriced_run_tokens, r.agent_id == agent_id),
            _sum(func.coalesce(r.cost_usd, 0), r.created_by == member_id),
            _sum(unpriced_run_tokens, r.created_by == member_id),
        )
        .where(r.workspace_id == workspace_id, r.status.in_(IN_FLIGHT))
        .subquery()
    )
    # Two one-row aggregates side by side (a join on true: no cartesian warning).
    row = session.execute(core_select(rollup, flight).select_from(rollup.join(flight, true()))).one()
    values = [Decimal(str(v or 0)) for v in row]
    keys = [(scope, measure) for scope in SCOPE_ORDER for measure in ("usd", "tokens")]
    amounts = {key: values[i] + values[i + 6] for i, key in enumerate(keys)}
    if not member_id:  # a run started by no one counts towards no member's budget
        amounts.pop(("member", "usd")), amounts.pop(("member", "tokens"))
    return Spend(amounts)


def spending_by_subject(
    session: Session, workspace_id: str, now: datetime
) -> dict[tuple[str, str, str], Decimal]:
    """Month-to-date spending of the workspace and of each agent and member that spent.

    Keys are (scope, subject id, measure), as in ``Cap``; the Settings card reads it.
    Two grouped queries (the rollup's month, the runs in flight).
    """
    start = month_start(now)
    u = UsageDaily.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    r = Run.__table__.c  # type: ignore[attr-defined]
    unpriced_run_tokens = case((r.cost_usd.is_(None), r.input_tokens + r.output_tokens), else_=0)
    rows = list(
        session.execute(
            core_select(u.agent_id, u.member_id, _sum(u.cost_usd), _sum(u.unpriced_tokens))
            .where(u.workspace_id == workspace_id, u.day >= start.date(), u.day < reset_at(now).date())
            .group_by(u.agent_id, u.member_id)
        ).all()
    ) + list(
        session.execute(
            core_select(
                r.agent_id,
                func.coalesce(r.created_by, ""),
                _sum(func.coalesce(r.cost_usd, 0)),
                _sum(unpriced_run_tokens),
            )
            .where(r.workspace_id == workspace_id, r.status.in_(IN_FLIGHT))
            .group_by(r.agent_id, r.created_by)
        ).all()
    )
    totals: dict[tuple[str, str, str], Decimal] = {}
    for agent_id, member_id, usd, tokens in rows:
        for scope, subject in (("workspace", ""), ("agent", agent_id), ("member", member_id)):
            if scope == "member" and not subject:
                continue
            for measure, amount in (("usd", usd), ("tokens", tokens)):
                key = (scope, subject, measure)
                totals[key] = totals.get(key, Decimal(0)) + Decimal(str(amount or 0))
    return totals


# ---------------------------------------------------------------- messages


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def amount_text(measure: str, amount: Decimal) -> str:
    return money(amount) if measure == "usd" else f"{int(amount):,} tokens"


def _subject_name(session: Session, cap: Cap) -> str:
    if cap.scope == "agent":
        agent = session.get(Agent, cap.subject_id)
        return agent.name if agent else "this agent"
    if cap.scope == "member":
        user = session.get(User, cap.subject_id)
        return user.name or user.email if user else "this member"
    return ""


def describe(session: Session, cap: Cap, spent: Decimal, now: datetime, *, reader_id: str = "") -> str:
    """Which budget is used up, by how much, and when it resets, in one or two sentences.

    ``reader_id`` is the person reading it: their own member budget is "Your".
    """
    what = (
        f"monthly budget of {amount_text(cap.measure, cap.limit)}"
        if cap.measure == "usd"
        else f"monthly budget of {amount_text(cap.measure, cap.limit)} for models without a price"
    )
    name = _subject_name(session, cap)
    if cap.scope == "workspace":
        who = f"The workspace's {what} is"
    elif cap.scope == "agent":
        who = f"The agent “{name}” has its {what}"
    elif cap.subject_id == reader_id:
        who = f"Your {what} is"
    else:
        who = f"{name}'s {what} is"
    return f"{who} used up ({amount_text(cap.measure, spent)} this month). It resets on {reset_label(now)}."


# ---------------------------------------------------------------- checks


def check_start(
    session: Session, *, workspace_id: str, agent_id: str, member_id: str, now: datetime | None = None
) -> None:
    """Refuse a run that would start over one of its budgets (no query beyond one without any).

    Raises:
        BudgetExceededError: the first cap at or over its limit; ``retry_after`` is the
            number of seconds until it resets.
    """
    caps = run_caps(session, workspace_id, agent_id, member_id)
    if not caps:
        return
    now = now or utcnow()
    spend = spending(session, workspace_id, agent_id, member_id, now)
    for cap in caps:
        if spend.of(cap) >= cap.limit:
            raise BudgetExceededError(
                describe(session, cap, spend.of(cap), now, reader_id=member_id),
                retry_after=seconds_until_reset(now),
            )


@dataclass(frozen=True, slots=True)
class Alert:
    """A threshold just crossed for the first time this period (its row went in).

    ``announcement`` is the notification recorded with it, announced after commit
    (``announce_alerts``).
    """

    cap: Cap
    threshold: int
    spent: Decimal
    title: str
    body: str
    announcement: notifications.Announcement | None = None


@dataclass(slots=True)
class Verdict:
    """What a turn's check found: the budget that stops the run ("" if none), new alerts."""

    over: str = ""
    alerts: list[Alert] = field(default_factory=list)


def check_run(
    session: Session,
    *,
    workspace_id: str,
    agent_id: str,
    member_id: str,
    caps: tuple[Cap, ...],
    now: datetime | None = None,
) -> Verdict:
    """Check a running run's caps (the caller persisted its totals in this transaction).

    Records the 80 % / 100 % alerts first reached this period. Returns the message of the
    first cap at or over its limit (``over``) and the alerts this transaction recorded.
    """
    verdict = Verdict()
    if not caps:
        return verdict
    now = now or utcnow()
    spend = spending(session, workspace_id, agent_id, member_id, now)
    for cap in caps:
        spent = spend.of(cap)
        for threshold in ALERT_THRESHOLDS:
            if spent * 100 >= cap.limit * threshold and _insert_alert(
                session, workspace_id, cap, threshold, spent, now
            ):
                verdict.alerts.append(_alert(session, workspace_id, cap, threshold, spent, now))
        if not verdict.over and spent >= cap.limit:
            verdict.over = describe(session, cap, spent, now)
    return verdict


def _insert_alert(
    session: Session, workspace_id: str, cap: Cap, threshold: int, spent: Decimal, now: datetime
) -> bool:
    """Insert the alert's row unless this period already has it; True if this one went in."""
    table: Table = BudgetAlert.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).values(
        workspace_id=workspace_id,
        scope=cap.scope,
        subject_id=cap.subject_id,
        measure=cap.measure,
        period=period_of(now),
        threshold=threshold,
        spent=spent,
        limit=cap.limit,
        created_at=now,
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
    return session.execute(stmt.on_conflict_do_nothing().returning(table.c.threshold)).first() is not None


def _alert(
    session: Session, workspace_id: str, cap: Cap, threshold: int, spent: Decimal, now: datetime
) -> Alert:
    name = _subject_name(session, cap)
    whose = {"workspace": "The workspace's", "agent": f"The agent “{name}”'s", "member": f"{name}'s"}[
        cap.scope
    ]
    limit = amount_text(cap.measure, cap.limit)
    kind = "budget" if cap.measure == "usd" else "token budget (models without a price)"
    if threshold >= 100:
        title = f"{whose} monthly {kind} is used up"
        body = (
            f"{amount_text(cap.measure, spent)} of {limit} spent this month. New runs are refused and "
            f"running ones stop until it resets on {reset_label(now)}, or an admin raises it in Settings → Limits."
        )
    else:
        title = f"{whose} monthly {kind} is {threshold} % spent"
        body = (
            f"{amount_text(cap.measure, spent)} of {limit} spent this month. It resets on {reset_label(now)}."
        )
    title = title[:200]
    announcement = notifications.record(
        session,
        workspace_id=workspace_id,
        kind=f"budget_{threshold}",
        title=title,
        body=body,
        link="/settings#limits",
        roles=("owner", "admin"),
        user_ids=(cap.subject_id,) if cap.scope == "member" else (),
    )
    return Alert(cap=cap, threshold=threshold, spent=spent, title=title, body=body, announcement=announcement)


async def announce_alerts(alerts: Iterable[Alert]) -> None:
    """After the check's transaction committed: push the alerts' notifications (never raises)."""
    for alert in alerts:
        await notifications.announce(alert.announcement)
