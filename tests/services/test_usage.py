"""The usage report: windows, filters, breakdowns, percentiles, CSV and the agent's month.

Runs are finished through ``store.finish_run`` at chosen moments (its clock patched), so
the figures come from the rollup exactly as production fills it. Another workspace's
runs sit on the same days and must never show.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest

from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.runs import store
from galaxyco_ui.services import usage
from tests.factories import Team, insert_agent

TODAY = date(2026, 11, 30)


def finish(
    team: Team,
    agent_id: str,
    *,
    day: date,
    status: str = "succeeded",
    member: str | None = "member",
    model: str = "gpt-4.1-mini",
    trigger: str = "manual",
    cost: str | None = "0.10",
    tokens: tuple[int, int] = (100, 20),
    duration_ms: int = 1_000,
    hour: int = 12,
) -> None:
    at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id,
            created_by=team.ctx(member).user_id if member else None,
            agent_id=agent_id,
            input="Hi",
            trigger=trigger,
            status="running",
            agent_snapshot={"model": model},
            started_at=at - timedelta(milliseconds=duration_ms),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with mock.patch.object(store, "utcnow", return_value=at):
        store.finish_run(
            run_id,
            status=status,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost_usd=Decimal(cost) if cost is not None else None,
        )


@pytest.fixture
def seeded(team: Team, other_team: Team) -> dict[str, str]:
    support = insert_agent(team.workspace_id, created_by=team.member.user_id, name="Support")
    research = insert_agent(team.workspace_id, created_by=team.admin.user_id, name="=Research")
    foreign = insert_agent(other_team.workspace_id, created_by=other_team.member.user_id, name="Foreign")
    finish(team, support, day=TODAY)
    finish(team, support, day=TODAY, status="failed", cost="0.05", duration_ms=3_000)
    finish(
        team, research, day=TODAY - timedelta(days=1), member="admin", model="claude-sonnet-4-5", cost="1.5"
    )
    finish(team, research, day=TODAY - timedelta(days=1), member=None, trigger="schedule", cost=None)
    finish(team, support, day=TODAY - timedelta(days=20), status="cancelled", cost="0.25", trigger="api")
    finish(team, support, day=TODAY - timedelta(days=60), cost="2.00")
    finish(other_team, foreign, day=TODAY, cost="9.00", tokens=(5_000, 5_000))
    return {"support": support, "research": research, "foreign": foreign}


def test_the_report_adds_up_the_window_per_day_and_ignores_other_workspaces(team, seeded):
    report = usage.get_usage_report(ctx=team.viewer, period="7d", today=TODAY)
    assert (report.start, report.end) == ("2026-11-24", "2026-11-30")
    assert [d.day for d in report.days][-2:] == ["2026-11-29", "2026-11-30"] and len(report.days) == 7
    last = report.days[-1]
    assert (last.succeeded, last.failed, last.cancelled) == (1, 1, 0)
    assert last.cost_usd == pytest.approx(0.15) and last.success_rate == 50.0
    assert (last.input_tokens, last.output_tokens) == (200, 40)
    totals = report.totals
    assert (totals.runs, totals.succeeded, totals.failed) == (4, 3, 1)
    assert totals.cost_usd == pytest.approx(1.65) and totals.unpriced_runs == 1
    assert totals.success_rate == 75.0
    assert {b.label: b.cost_usd for b in report.by_agent} == {"Support": 0.15, "=Research": 1.5}
    assert {b.key: b.runs for b in report.by_member} == {team.member.user_id: 2, team.admin.user_id: 1, "": 1}
    assert usage.NOBODY_LABEL in {b.label for b in report.by_member}
    assert [b.key for b in report.by_model] == ["claude-sonnet-4-5", "gpt-4.1-mini"]
    assert report.rows_total == len(report.rows) == 3  # today's two Support runs share a row
    assert (report.rows[0].day, report.rows[0].runs, report.rows[0].agent) == ("2026-11-30", 2, "Support")


def test_longer_periods_and_this_month_reach_older_days(team, seeded):
    assert usage.get_usage_report(ctx=team.member, period="30d", today=TODAY).totals.runs == 5
    assert usage.get_usage_report(ctx=team.member, period="90d", today=TODAY).totals.runs == 6
    month = usage.get_usage_report(ctx=team.member, period="month", today=TODAY)
    assert month.start == "2026-11-01" and month.totals.runs == 5


def test_filters_narrow_every_figure(team, seeded):
    def runs(**filters: object) -> int:
        return usage.get_usage_report(ctx=team.member, period="90d", today=TODAY, **filters).totals.runs

    assert runs(agent_id=seeded["research"]) == 2
    assert runs(member_id=team.admin.user_id) == 1
    assert runs(member_id=usage.NOBODY) == 1
    assert runs(model="claude-sonnet-4-5") == 1
    assert runs(trigger="api") == 1
    assert runs(agent_id=seeded["support"], trigger="manual") == 3
    # Another workspace's agent, and ids or names no row could hold, match nothing.
    for hostile in ({"agent_id": seeded["foreign"]}, {"agent_id": "a\x00b"}, {"member_id": "x" * 10_000}):
        assert runs(**hostile) == 0
    assert runs(model="\ud800") == 0


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"period": "365d"}, "period"), ({"trigger": "cron"}, "trigger"), ({"model": ["x"]}, "model")],
)
def test_unknown_choices_are_field_errors(team, filters, field):
    with pytest.raises(ValidationError) as caught:
        usage.get_usage_report(ctx=team.member, **filters)
    assert field in caught.value.field_errors


def test_duration_percentiles_come_within_a_bucket_of_the_truth(team):
    agent = insert_agent(team.workspace_id, created_by=team.member.user_id)
    durations = [200 * (i + 1) for i in range(100)]  # 0.2 s … 20 s
    for ms in durations:
        finish(team, agent, day=TODAY, duration_ms=ms)
    totals = usage.get_usage_report(ctx=team.member, period="7d", today=TODAY).totals
    assert totals.p50_ms == pytest.approx(10_000, rel=0.2)
    assert totals.p95_ms == pytest.approx(19_000, rel=0.2)


def test_a_run_at_23_59_utc_counts_on_that_day_and_one_at_00_00_on_the_next(team):
    agent = insert_agent(team.workspace_id, created_by=team.member.user_id)
    finish(team, agent, day=TODAY - timedelta(days=1), hour=23)
    finish(team, agent, day=TODAY, hour=0)
    days = {
        d.day: d.succeeded for d in usage.get_usage_report(ctx=team.member, period="7d", today=TODAY).days
    }
    assert days["2026-11-29"] == days["2026-11-30"] == 1


def test_the_csv_holds_the_filtered_rows_with_formulas_defused(team, seeded):
    export = usage.export_usage_csv(ctx=team.viewer, period="7d", agent_id=seeded["research"], today=TODAY)
    rows = list(csv.reader(io.StringIO(export.content)))
    assert rows[0][:5] == ["Day (UTC)", "Agent", "Member", "Model", "Trigger"]
    assert export.rows == len(rows) - 1 == 2 and not export.capped
    assert {r[1] for r in rows[1:]} == {"'=Research"}
    assert {r[11] for r in rows[1:]} == {"1.500000", "0.000000"}
    assert export.filename.startswith("galaxyco-usage-acme-") and export.filename.endswith("2026-11-30.csv")
    capped = usage.export_usage_csv(ctx=team.viewer, period="90d", today=TODAY, max_rows=2)
    assert capped.rows == 2 and capped.capped


def test_filter_options_list_the_workspace_only(team, other_team, seeded):
    options = usage.list_usage_filter_options(ctx=team.viewer)
    assert {o.value for o in options.agents} == {seeded["support"], seeded["research"]}
    assert {o.value for o in options.models} == {"gpt-4.1-mini", "claude-sonnet-4-5"}
    assert other_team.member.user_id not in {o.value for o in options.members}
    assert options.members[0].value == usage.NOBODY
    assert [o.value for o in options.periods] == ["7d", "30d", "90d", "month"]


def test_an_agent_sees_its_own_month_to_date(team, other_team, seeded):
    month = usage.get_agent_month_usage(ctx=team.viewer, agent_id=seeded["support"], today=TODAY)
    assert (month.month, month.runs, month.cost_usd) == ("November 2026", 3, pytest.approx(0.4))
    research = usage.get_agent_month_usage(ctx=team.viewer, agent_id=seeded["research"], today=TODAY)
    assert (research.runs, research.unpriced_runs) == (2, 1)
    with pytest.raises(NotFoundError):
        usage.get_agent_month_usage(ctx=team.viewer, agent_id=seeded["foreign"], today=TODAY)
