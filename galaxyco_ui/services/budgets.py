"""Settings → Limits: monthly budgets (workspace, per agent, per member) and the run limits.

Owners and admins (``MANAGE_SETTINGS``) read and change them; every change is audited
(``budget.set``, ``budget.cleared``, ``workspace.run_limits_changed``). A budget caps
dollars (``monthly_usd``, priced models) and/or tokens (``monthly_tokens``, models
without a price); setting neither removes it. How spending is counted and enforced is
``runs/budgets.py``. Run limits are kept within the operator's maximums from the
environment (``WORKSPACE_MAX_CONCURRENT_RUNS``, ``WORKSPACE_MAX_RUN_STARTS_PER_MINUTE``);
clearing one gives the workspace the maximum.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, Budget, User, Workspace, WorkspaceMember, utcnow
from galaxyco_ui.runs import budgets as engine
from galaxyco_ui.services import audit
from galaxyco_ui.services.agents import live_agent
from galaxyco_ui.services.runs import clamp_limit
from galaxyco_ui.services.validation import lookup_id

MAX_USD = Decimal("1000000000")  # a billion dollars a month: anything above is a typo
MAX_TOKENS = 10**15


class BudgetView(BaseModel):
    scope: str  # "workspace" | "agent" | "member"
    subject_id: str  # "" for the workspace
    subject_name: str
    monthly_usd: str | None  # "50.00"; None: no dollar cap
    monthly_tokens: int | None
    spent_usd: str  # month to date, "12.34"
    spent_tokens: int  # unpriced tokens, month to date
    usd_percent: int  # of the cap, 0 … 100 (0 without one)
    tokens_percent: int
    usd_text: str  # "$3.00 of $10.00 this month" ("" without a dollar cap)
    tokens_text: str  # "1,200 of 5,000 tokens this month (models without a price)" or ""


class SubjectOption(BaseModel):
    id: str
    name: str


class LimitsView(BaseModel):
    workspace: BudgetView
    agents: list[BudgetView]
    members: list[BudgetView]
    max_concurrent_runs: int
    run_starts_per_minute: int
    operator_max_concurrent_runs: int
    operator_max_run_starts_per_minute: int
    resets_on: str  # "1 December 2026"
    agent_options: list[SubjectOption]  # live agents, for "add a budget"
    member_options: list[SubjectOption]  # current members


def get_limits(*, ctx: TenantContext) -> LimitsView:
    """The workspace's budgets with their month-to-date spending, and its run limits.

    Raises:
        PermissionDeniedError: members and viewers.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    now = utcnow()
    settings = get_settings()
    with session_scope() as session:
        rows = session.exec(select(Budget).where(Budget.workspace_id == ctx.workspace_id)).all()
        spent = engine.spending_by_subject(session, ctx.workspace_id, now)
        agents = dict(
            session.exec(
                select(Agent.id, Agent.name)
                .where(Agent.workspace_id == ctx.workspace_id, col(Agent.deleted_at).is_(None))
                .order_by(col(Agent.name))
            ).all()
        )
        members = {
            user_id: name or email
            for user_id, name, email in session.exec(
                select(User.id, User.name, User.email)
                .join(WorkspaceMember, col(WorkspaceMember.user_id) == col(User.id))
                .where(WorkspaceMember.workspace_id == ctx.workspace_id)
                .order_by(col(User.name))
            ).all()
        }
        workspace = session.get(Workspace, ctx.workspace_id)
        concurrent = workspace.max_concurrent_runs if workspace else None
        per_minute = workspace.run_starts_per_minute if workspace else None

    def view(scope: str, subject_id: str, name: str, budget: Budget | None) -> BudgetView:
        usd = spent.get((scope, subject_id, "usd"), Decimal(0))
        tokens = spent.get((scope, subject_id, "tokens"), Decimal(0))
        cap_usd = budget.monthly_usd if budget else None
        cap_tokens = budget.monthly_tokens if budget else None
        return BudgetView(
            scope=scope,
            subject_id=subject_id,
            subject_name=name,
            monthly_usd=f"{Decimal(str(cap_usd)):.2f}" if cap_usd is not None else None,
            monthly_tokens=cap_tokens,
            spent_usd=f"{usd:.2f}",
            spent_tokens=int(tokens),
            usd_percent=_percent(usd, cap_usd),
            tokens_percent=_percent(tokens, cap_tokens),
            usd_text=f"{engine.money(usd)} of {engine.money(Decimal(str(cap_usd)))} this month"
            if cap_usd is not None
            else "",
            tokens_text=f"{int(tokens):,} of {cap_tokens:,} tokens this month (models without a price)"
            if cap_tokens is not None
            else "",
        )

    by_scope = {(b.scope, b.subject_id): b for b in rows}
    names = {"agent": agents, "member": members}
    lists: dict[str, list[BudgetView]] = {"agent": [], "member": []}
    for (scope, subject_id), budget in by_scope.items():
        if scope in lists:
            gone = "(deleted agent)" if scope == "agent" else "(former member)"
            lists[scope].append(view(scope, subject_id, names[scope].get(subject_id, gone), budget))
    for items in lists.values():
        items.sort(key=lambda v: v.subject_name.casefold())
    return LimitsView(
        workspace=view("workspace", "", "Workspace", by_scope.get(("workspace", ""))),
        agents=lists["agent"],
        members=lists["member"],
        max_concurrent_runs=clamp_limit(concurrent, settings.workspace_max_concurrent_runs),
        run_starts_per_minute=clamp_limit(per_minute, settings.workspace_max_run_starts_per_minute),
        operator_max_concurrent_runs=settings.workspace_max_concurrent_runs,
        operator_max_run_starts_per_minute=settings.workspace_max_run_starts_per_minute,
        resets_on=engine.reset_label(now),
        agent_options=[SubjectOption(id=k, name=v) for k, v in agents.items()],
        member_options=[SubjectOption(id=k, name=v) for k, v in members.items()],
    )


def set_budget(
    *,
    ctx: TenantContext,
    scope: str,
    subject_id: str = "",
    monthly_usd: object = None,
    monthly_tokens: object = None,
) -> None:
    """Set the monthly budget of the workspace, an agent or a member; neither cap removes it.

    ``monthly_usd`` is dollars (a number or text such as "50" or "12.50"), ``monthly_tokens``
    a whole number of tokens; None or "" means no cap of that kind.

    Raises:
        PermissionDeniedError: members and viewers.
        NotFoundError: ``subject_id`` is not a live agent / a member of this workspace.
        ValidationError: an unknown scope, or a cap that is not a positive amount in range
            (fields ``monthly_usd``, ``monthly_tokens``, ``scope``).
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    if scope not in ("workspace", "agent", "member"):
        raise ValidationError({"scope": "Choose the workspace, an agent or a member."})
    usd, tokens = _usd(monthly_usd), _tokens(monthly_tokens)
    with session_scope() as session:
        if usd is None and tokens is None:
            # A deleted agent's or a former member's budget can still be removed.
            _clear(session, ctx, scope, "" if scope == "workspace" else (lookup_id(str(subject_id)) or ""))
            return
        subject_id, name = _subject(session, ctx, scope, subject_id)
        budget = _budget(session, ctx, scope, subject_id)
        previous = _caps_text(budget.monthly_usd, budget.monthly_tokens) if budget else "none"
        if budget is None:
            budget = Budget(
                workspace_id=ctx.workspace_id, created_by=ctx.user_id, scope=scope, subject_id=subject_id
            )
            session.add(budget)
        budget.monthly_usd, budget.monthly_tokens, budget.updated_at = usd, tokens, utcnow()
        audit.record(
            session,
            ctx,
            "budget.set",
            summary=f"Set the monthly budget of {name} to {_caps_text(usd, tokens)}",
            target_type=scope,
            target_id=subject_id or ctx.workspace_id,
            data={
                "monthly_usd": str(usd) if usd is not None else None,
                "monthly_tokens": tokens,
                "previous": previous,
            },
        )


def set_run_limits(*, ctx: TenantContext, max_concurrent_runs: object, run_starts_per_minute: object) -> None:
    """Set the workspace's concurrent runs and run starts per minute (None or "": the maximum).

    Raises:
        PermissionDeniedError: members and viewers.
        ValidationError: not a whole number from 1 to the operator's maximum (fields
            ``max_concurrent_runs``, ``run_starts_per_minute``).
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    settings = get_settings()
    errors: dict[str, str] = {}
    concurrent = _limit(
        max_concurrent_runs, settings.workspace_max_concurrent_runs, "max_concurrent_runs", errors
    )
    per_minute = _limit(
        run_starts_per_minute, settings.workspace_max_run_starts_per_minute, "run_starts_per_minute", errors
    )
    if errors:
        raise ValidationError(errors)
    with session_scope() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        if workspace is None or workspace.deleted_at is not None:
            raise NotFoundError("That workspace")
        previous = {
            "max_concurrent_runs": workspace.max_concurrent_runs,
            "run_starts_per_minute": workspace.run_starts_per_minute,
        }
        workspace.max_concurrent_runs, workspace.run_starts_per_minute = concurrent, per_minute
        workspace.updated_at = utcnow()
        shown_concurrent = clamp_limit(concurrent, settings.workspace_max_concurrent_runs)
        shown_per_minute = clamp_limit(per_minute, settings.workspace_max_run_starts_per_minute)
        audit.record(
            session,
            ctx,
            "workspace.run_limits_changed",
            summary=f"Set the run limits to {shown_concurrent} at once and {shown_per_minute} starts per minute",
            target_type="workspace",
            target_id=workspace.id,
            data={
                "max_concurrent_runs": concurrent,
                "run_starts_per_minute": per_minute,
                "previous": previous,
            },
        )


# ---------------------------------------------------------------- helpers


def _percent(spent: Decimal, cap: object) -> int:
    if cap is None:
        return 0
    limit = Decimal(str(cap))
    return 100 if limit <= 0 else min(100, int(spent * 100 / limit))


def _caps_text(usd: object, tokens: int | None) -> str:
    parts = []
    if usd is not None:
        parts.append(engine.money(Decimal(str(usd))))
    if tokens is not None:
        parts.append(f"{tokens:,} tokens (unpriced models)")
    return " and ".join(parts) or "none"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _usd(value: object) -> Decimal | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValidationError({"monthly_usd": "Enter an amount in dollars, like 50 or 12.50."})
    try:
        amount = Decimal(str(value).strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        raise ValidationError({"monthly_usd": "Enter an amount in dollars, like 50 or 12.50."}) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError({"monthly_usd": "Enter an amount above $0, or leave it empty for no cap."})
    if amount > MAX_USD:
        raise ValidationError({"monthly_usd": f"Enter at most {engine.money(MAX_USD)}."})
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({"monthly_usd": "Use whole cents (at most two decimals)."})
    return amount.quantize(Decimal("0.01"))


def _whole(value: object) -> int | None:
    """``value`` as a whole number (an int, or text of one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().replace(",", "").isdecimal() and len(value) <= 30:
        return int(value.strip().replace(",", ""))
    return None


def _tokens(value: object) -> int | None:
    if _blank(value):
        return None
    tokens = _whole(value)
    if tokens is None or tokens <= 0:
        raise ValidationError(
            {"monthly_tokens": "Enter a whole number of tokens above 0, or leave it empty."}
        )
    if tokens > MAX_TOKENS:
        raise ValidationError({"monthly_tokens": f"Enter at most {MAX_TOKENS:,} tokens."})
    return tokens


def _limit(value: object, operator_max: int, field: str, errors: dict[str, str]) -> int | None:
    if _blank(value):
        return None
    number = _whole(value)
    if number is None or not 1 <= number <= operator_max:
        errors[field] = (
            f"Enter a whole number from 1 to {operator_max}, or leave it empty for {operator_max}."
        )
        return None
    return number


def _budget(session: Session, ctx: TenantContext, scope: str, subject_id: str) -> Budget | None:
    return session.exec(
        select(Budget).where(
            Budget.workspace_id == ctx.workspace_id, Budget.scope == scope, Budget.subject_id == subject_id
        )
    ).first()


def _clear(session: Session, ctx: TenantContext, scope: str, subject_id: str) -> None:
    budget = _budget(session, ctx, scope, subject_id) if scope == "workspace" or subject_id else None
    if budget is None:
        return
    if scope == "agent":
        agent = session.get(Agent, subject_id)
        name = f"the agent “{agent.name}”" if agent else "a deleted agent"
    elif scope == "member":
        user = session.get(User, subject_id)
        name = (user.name or user.email) if user else "a former member"
    else:
        name = "the workspace"
    session.delete(budget)
    audit.record(
        session,
        ctx,
        "budget.cleared",
        summary=f"Removed the monthly budget of {name}",
        target_type=scope,
        target_id=subject_id or ctx.workspace_id,
    )


def _subject(session: Session, ctx: TenantContext, scope: str, subject_id: str) -> tuple[str, str]:
    """The budget's subject id and how the audit log names it; NotFoundError for a foreign id."""
    if scope == "workspace":
        return "", "the workspace"
    if scope == "agent":
        agent = live_agent(session, ctx, str(subject_id))
        return agent.id, f"the agent “{agent.name}”"
    key = lookup_id(str(subject_id))
    member = (
        session.exec(
            select(WorkspaceMember).where(
                WorkspaceMember.workspace_id == ctx.workspace_id, WorkspaceMember.user_id == key
            )
        ).first()
        if key
        else None
    )
    user = session.get(User, member.user_id) if member else None
    if user is None:
        raise NotFoundError("That member")
    return user.id, user.name or user.email
