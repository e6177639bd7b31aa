"""Monthly budgets: what counts as spent, refused starts, runs stopped mid-way, alerts, the race."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, func, select

from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.errors import BudgetExceededError, RateLimitedError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import BudgetAlert, Notification, Run, UsageDaily, utcnow
from galaxyco_ui.runs import budgets, store
from galaxyco_ui.services import budgets as budget_service
from galaxyco_ui.services import provider_keys, runs
from tests.factories import Team, make_agent

# gpt-4o costs $10 per million output tokens: a turn costs $0.20 (seven stay under the
# run's own cap of RUN_MAX_TOTAL_TOKENS).
TURN_USAGE = (0, 20_000)
TURN_COST = Decimal("0.20")


def finished_run(ctx, agent_id: str, *, cost: str | None, tokens: tuple[int, int] = (0, 0)) -> str:  # type: ignore[no-untyped-def]
    """A run of ``ctx``'s member that finished now (counted in the rollup by ``finish_run``)."""
    run_id = in_flight_run(ctx, agent_id, status="queued")
    store.finish_run(
        run_id,
        status="succeeded",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost) if cost is not None else None,
    )
    return run_id


def in_flight_run(  # type: ignore[no-untyped-def]
    ctx, agent_id: str, *, status: str = "running", cost: str | None = None, tokens: tuple[int, int] = (0, 0)
) -> str:
    with session_scope() as session:
        run = Run(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            agent_id=agent_id,
            status=status,
            input="Hi",
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost_usd=float(cost) if cost is not None else None,
        )
        session.add(run)
        session.flush()
        return run.id


def spend_of(team: Team, agent_id: str, member_id: str, now: datetime | None = None) -> budgets.Spend:
    with session_scope() as session:
        return budgets.spending(session, team.workspace_id, agent_id, member_id, now or utcnow())


@pytest.fixture
def priced(team: Team, emulator):  # type: ignore[no-untyped-def]
    """``team`` with an OpenAI key at the emulator and a priced agent with the calculator."""
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="sk-test", base_url=emulator.openai_base_url
    )
    agent = make_agent(team.member, name="Researcher", provider="openai", model="gpt-4o", max_steps=8)
    return team, agent


def tool_turns(turns: int) -> str:
    """A run input that makes the emulator answer ``turns`` priced tool-call turns, then text."""
    turn = {
        "steps": [
            {"text": "working on it", "tokens_per_second": 200},
            {"tool_call": {"name": "calculator", "arguments": {"expression": "1 + 1"}}},
            {"usage": list(TURN_USAGE)},
        ]
    }
    final = {"steps": [{"text": "done"}, {"usage": list(TURN_USAGE)}]}
    return json.dumps({"emulator": [turn] * turns + [final]})


# ---------------------------------------------------------------- the period


def test_the_period_is_the_utc_calendar_month_and_resets_at_the_next_one():
    late = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    assert budgets.month_start(late) == datetime(2026, 11, 1, tzinfo=UTC)
    assert budgets.reset_at(late) == datetime(2026, 12, 1, tzinfo=UTC)
    assert budgets.period_of(late) == "2026-11"
    assert budgets.reset_label(late) == "1 December 2026"
    assert budgets.seconds_until_reset(late) in (1, 2)
    december = datetime(2026, 12, 31, 12, tzinfo=UTC)
    assert budgets.reset_at(december) == datetime(2027, 1, 1, tzinfo=UTC)
    assert budgets.reset_label(december) == "1 January 2027"
    # Another zone's "1 December, 00:30" is still November in UTC.
    assert budgets.period_of(datetime.fromisoformat("2026-12-01T00:30:00+01:00")) == "2026-11"


# ---------------------------------------------------------------- spending


def test_spending_counts_this_months_rollup_and_the_runs_in_flight_of_each_scope(team, other_team):
    agent = make_agent(team.member, provider="openai", model="gpt-4.1-mini")
    other_agent = make_agent(team.admin, provider="openai", model="gpt-4.1-mini")
    finished_run(team.member, agent.id, cost="1.25")
    finished_run(team.admin, other_agent.id, cost="2.00")
    finished_run(team.member, agent.id, cost=None, tokens=(300, 200))  # unpriced: tokens count
    in_flight_run(team.member, agent.id, cost="0.50")  # running, priced so far
    in_flight_run(team.admin, agent.id, tokens=(40, 60))  # running, unpriced so far
    in_flight_run(team.member, agent.id, status="queued")  # nothing spent yet
    foreign_agent = make_agent(other_team.member, provider="openai", model="gpt-4.1-mini")
    finished_run(other_team.member, foreign_agent.id, cost="99")
    in_flight_run(other_team.member, foreign_agent.id, cost="99")
    # Last month's rollup does not count this month.
    last_month = budgets.month_start(utcnow()).date() - timedelta(days=1)
    with session_scope() as session:
        session.add(
            UsageDaily(
                workspace_id=team.workspace_id,
                day=last_month,
                agent_id=agent.id,
                member_id=team.member.user_id,
                model="gpt-4.1-mini",
                trigger="manual",
                runs_succeeded=1,
                cost_usd=Decimal("500"),
                unpriced_tokens=5000,
            )
        )

    spend = spend_of(team, agent.id, team.member.user_id)

    assert spend.amounts[("workspace", "usd")] == Decimal("3.75")
    assert spend.amounts[("workspace", "tokens")] == 600
    assert spend.amounts[("agent", "usd")] == Decimal("1.75")
    assert spend.amounts[("agent", "tokens")] == 600
    assert spend.amounts[("member", "usd")] == Decimal("1.75")
    assert spend.amounts[("member", "tokens")] == 500
    # The card's grouped figures agree with the run check's.
    with session_scope() as session:
        grouped = budgets.spending_by_subject(session, team.workspace_id, utcnow())
    assert grouped[("workspace", "", "usd")] == Decimal("3.75")
    assert grouped[("agent", agent.id, "usd")] == Decimal("1.75")
    assert grouped[("agent", other_agent.id, "usd")] == Decimal("2.00")
    assert grouped[("member", team.admin.user_id, "tokens")] == 100
    assert grouped[("member", team.member.user_id, "usd")] == Decimal("1.75")


def test_next_month_starts_from_zero_but_still_counts_the_runs_in_flight(team):
    agent = make_agent(team.member, provider="openai", model="gpt-4.1-mini")
    finished_run(team.member, agent.id, cost="3.00")
    in_flight_run(team.member, agent.id, cost="0.25")

    spend = spend_of(team, agent.id, team.member.user_id, now=budgets.reset_at(utcnow()) + timedelta(hours=1))

    assert spend.amounts[("workspace", "usd")] == Decimal("0.25")


# ---------------------------------------------------------------- refused starts


async def test_a_start_over_the_workspace_budget_is_refused_with_the_reset_date(priced, engine):
    team, agent = priced
    budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_usd="2")
    finished_run(team.admin, agent.id, cost="2.01")

    with pytest.raises(BudgetExceededError) as refused:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")

    now = utcnow()
    assert isinstance(refused.value, RateLimitedError)  # the API answers 429 with Retry-After
    assert refused.value.message == (
        f"The workspace's monthly budget of $2.00 is used up ($2.01 this month). "
        f"It resets on {budgets.reset_label(now)}."
    )
    assert abs(refused.value.retry_after - budgets.seconds_until_reset(now)) <= 5
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Run).where(Run.status == "queued")).one() == 0


async def test_an_agent_budget_refuses_that_agent_only(priced, engine):
    team, agent = priced
    other = make_agent(team.member, provider="openai", model="gpt-4.1-mini")
    budget_service.set_budget(ctx=team.admin, scope="agent", subject_id=agent.id, monthly_usd="1")
    finished_run(team.member, agent.id, cost="1.00")

    with pytest.raises(BudgetExceededError, match="The agent “Researcher” has its monthly budget of \\$1.00"):
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await runs.start_run(ctx=team.member, agent_id=other.id, input="Hi")).status == "queued"


async def test_a_member_budget_refuses_that_member_only(priced, engine):
    team, agent = priced
    budget_service.set_budget(
        ctx=team.owner, scope="member", subject_id=team.member.user_id, monthly_usd="0.5"
    )
    finished_run(team.member, agent.id, cost="0.70")

    with pytest.raises(BudgetExceededError) as refused:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert refused.value.message.startswith("Your monthly budget of $0.50 is used up ($0.70 this month).")
    assert (await runs.start_run(ctx=team.admin, agent_id=agent.id, input="Hi")).status == "queued"


async def test_a_token_budget_caps_unpriced_models_and_not_priced_ones(wired, priced, engine):
    team, unpriced_agent = wired
    _, priced_agent = priced
    budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_tokens="1000")
    finished_run(team.member, priced_agent.id, cost="0.10", tokens=(5000, 5000))  # priced: no tokens
    assert (await runs.start_run(ctx=team.member, agent_id=unpriced_agent.id, input="Hi")).status == "queued"
    finished_run(team.member, unpriced_agent.id, cost=None, tokens=(500, 500))

    with pytest.raises(BudgetExceededError, match="1,000 tokens for models without a price is used up"):
        await runs.start_run(ctx=team.member, agent_id=unpriced_agent.id, input="Hi")


# ---------------------------------------------------------------- runs stopped mid-way


async def test_a_run_stops_as_failed_after_the_turn_that_crosses_its_budget(priced, emulator, engine):
    team, agent = priced
    budget_service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id, monthly_usd="0.50")

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input=tool_turns(6))
    run = await engine(view.id)

    assert run.status == "failed"
    assert run.error.startswith(
        "Budget reached: The agent “Researcher” has its monthly budget of $0.50 used up"
    )
    assert budgets.reset_label(utcnow()) in run.error
    # Turns of $0.20: the third crosses $0.50, and no fourth is asked for.
    assert Decimal(str(run.cost_usd)) == Decimal("0.60")
    assert sum(1 for r in emulator.requests if "chat/completions" in r.path) == 3


async def test_a_token_budget_stops_a_run_of_an_unpriced_model(wired, emulator, engine):
    team, agent = wired
    budget_service.set_budget(
        ctx=team.owner, scope="member", subject_id=team.member.user_id, monthly_tokens=1000
    )
    for _ in range(3):
        emulator.enqueue(Script([tool_call("calculator", {"expression": "2 + 2"}), usage(400, 200)]))
    emulator.enqueue(Script([text("done"), usage(400, 200)]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Go")).id)

    assert run.status == "failed", run.error
    assert "monthly budget of 1,000 tokens for models without a price is used up (1,200 tokens" in run.error
    assert run.cost_usd is None and run.input_tokens + run.output_tokens == 1200


async def test_a_run_without_budgets_persists_its_running_totals_each_turn(priced, emulator, engine):
    team, agent = priced

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input=tool_turns(2))).id)

    assert run.status == "succeeded", run.error
    assert Decimal(str(run.cost_usd)) == 3 * TURN_COST


# ---------------------------------------------------------------- alerts


def _check(team: Team, agent_id: str) -> budgets.Verdict:
    with session_scope() as session:
        caps = budgets.run_caps(session, team.workspace_id, agent_id, team.member.user_id, lock=True)
        return budgets.check_run(
            session,
            workspace_id=team.workspace_id,
            agent_id=agent_id,
            member_id=team.member.user_id,
            caps=caps,
        )


def test_alerts_go_out_once_per_threshold_and_period(team):
    agent = make_agent(team.member, provider="openai", model="gpt-4.1-mini")
    budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_usd="10")
    finished_run(team.member, agent.id, cost="7.99")
    assert _check(team, agent.id).alerts == []

    finished_run(team.member, agent.id, cost="0.01")  # 80 %
    first = _check(team, agent.id)
    again = _check(team, agent.id)
    finished_run(team.member, agent.id, cost="2.50")  # 105 %
    crossed = _check(team, agent.id)
    after = _check(team, agent.id)

    assert [a.threshold for a in first.alerts] == [80] and first.over == ""
    assert again.alerts == [] and after.alerts == []
    assert [a.threshold for a in crossed.alerts] == [100]
    assert crossed.over.startswith("The workspace's monthly budget of $10.00 is used up ($10.50 this month).")
    with session_scope() as session:
        rows = session.exec(select(BudgetAlert).order_by(col(BudgetAlert.threshold))).all()
        assert [(r.scope, r.measure, r.period, r.threshold) for r in rows] == [
            ("workspace", "usd", budgets.period_of(utcnow()), 80),
            ("workspace", "usd", budgets.period_of(utcnow()), 100),
        ]
        notified = session.exec(select(Notification.user_id, Notification.kind, Notification.link)).all()
    # Owners and admins hear of a workspace budget; each once per threshold.
    assert sorted(notified) == sorted(
        (user, kind, "/settings#limits")
        for user in (team.owner.user_id, team.admin.user_id)
        for kind in ("budget_80", "budget_100")
    )


def test_a_member_budget_alert_also_goes_to_that_member(team):
    agent = make_agent(team.member, provider="openai", model="gpt-4.1-mini")
    budget_service.set_budget(ctx=team.owner, scope="member", subject_id=team.member.user_id, monthly_usd="1")
    finished_run(team.member, agent.id, cost="0.90")

    verdict = _check(team, agent.id)

    assert [a.threshold for a in verdict.alerts] == [80]
    assert verdict.alerts[0].title.endswith("monthly budget is 80 % spent")
    with session_scope() as session:
        users = set(session.exec(select(Notification.user_id)).all())
    assert users == {team.owner.user_id, team.admin.user_id, team.member.user_id}


# ---------------------------------------------------------------- the race


async def test_ten_runs_racing_a_nearly_spent_budget_overshoot_by_at_most_the_runs_in_flight(
    priced, emulator, engine
):
    team, agent = priced
    limit = Decimal("5.00")
    budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_usd=str(limit))
    finished_run(team.admin, agent.id, cost="4.30")  # nearly spent: $0.70 left, 3.5 turns
    racers = 10

    # All ten pass the start check (start_run's transaction) before the first one runs,
    # then go to the executors together.
    views = await asyncio.gather(
        *(
            asyncio.to_thread(runs._create_run, team.member, agent.id, tool_turns(6), "manual", None, None)
            for _ in range(racers)
        )
    )
    await asyncio.gather(*(runs._announce_and_enqueue(team.workspace_id, v) for v in views))
    finished = await asyncio.gather(*(engine(v.id, timeout=60) for v in views))

    with session_scope() as session:
        total = budgets.spending(session, team.workspace_id, agent.id, team.member.user_id, utcnow())
    spent = total.amounts[("workspace", "usd")]
    # Without the check each run would spend 7 turns: $4.30 + 10 × $1.40 = $18.30.
    assert limit <= spent <= limit + racers * TURN_COST, spent
    stopped = [r for r in finished if r.status == "failed"]
    assert stopped, [r.status for r in finished]
    assert all(r.error.startswith("Budget reached: The workspace's monthly budget of $5.00") for r in stopped)
    assert all(r.status in ("failed", "succeeded") for r in finished)
    with session_scope() as session:
        thresholds = session.exec(select(BudgetAlert.threshold).order_by(col(BudgetAlert.threshold))).all()
    assert thresholds == [80, 100]  # once each, however many runs crossed together

    with pytest.raises(BudgetExceededError, match=f"It resets on {budgets.reset_label(utcnow())}"):
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="One more")
