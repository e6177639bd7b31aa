"""Settings → Limits: who may set budgets and run limits, what is refused, what is audited,
and how the run limits bind run starts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlmodel import col, select

from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, RateLimitedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import reset_sliding_window
from galaxyco_ui.models import AuditEvent, Budget, Run, Workspace
from galaxyco_ui.runs import budgets as engine_budgets
from galaxyco_ui.runs import store
from galaxyco_ui.services import agents, runs
from galaxyco_ui.services import budgets as service
from tests.factories import make_agent, make_user, set_columns


@pytest.fixture
def operator_max(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Operator maximums of 4 runs at once and 6 starts a minute."""
    monkeypatch.setenv("WORKSPACE_MAX_CONCURRENT_RUNS", "4")
    monkeypatch.setenv("WORKSPACE_MAX_RUN_STARTS_PER_MINUTE", "6")
    reset_settings()
    reset_sliding_window()
    yield
    monkeypatch.undo()
    reset_settings()


def audit_actions(workspace_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [
            (e.action, e.summary)
            for e in session.exec(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == workspace_id, col(AuditEvent.action).like("%budget%"))
                .order_by(col(AuditEvent.created_at))
            ).all()
        ]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_can_neither_read_nor_change_limits(team, role):
    ctx = team.ctx(role)
    agent = make_agent(team.member)
    calls = [
        lambda: service.get_limits(ctx=ctx),
        lambda: service.set_budget(ctx=ctx, scope="workspace", monthly_usd="10"),
        lambda: service.set_budget(ctx=ctx, scope="agent", subject_id=agent.id, monthly_usd="1"),
        lambda: service.set_budget(ctx=ctx, scope="member", subject_id=ctx.user_id, monthly_usd="1"),
        lambda: service.set_run_limits(ctx=ctx, max_concurrent_runs=1, run_starts_per_minute=1),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    with session_scope() as session:
        assert session.exec(select(Budget)).all() == []


def test_an_admin_sets_reads_and_clears_budgets_and_each_change_is_audited(team):
    agent = make_agent(team.member, name="Researcher")
    service.set_budget(ctx=team.admin, scope="workspace", monthly_usd="$1,250.5", monthly_tokens="2,000,000")
    service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id, monthly_usd=40)
    service.set_budget(ctx=team.owner, scope="member", subject_id=team.member.user_id, monthly_tokens=5000)

    limits = service.get_limits(ctx=team.owner)

    assert (limits.workspace.monthly_usd, limits.workspace.monthly_tokens) == ("1250.50", 2_000_000)
    assert [(b.subject_name, b.monthly_usd, b.monthly_tokens) for b in limits.agents] == [
        ("Researcher", "40.00", None)
    ]
    assert [(b.subject_id, b.monthly_usd, b.monthly_tokens) for b in limits.members] == [
        (team.member.user_id, None, 5000)
    ]
    assert limits.resets_on == engine_budgets.reset_label(engine_budgets.utcnow())
    assert agent.id in {o.id for o in limits.agent_options}
    assert {team.owner.user_id, team.viewer.user_id} <= {o.id for o in limits.member_options}

    service.set_budget(ctx=team.admin, scope="agent", subject_id=agent.id)  # neither cap: removed
    assert service.get_limits(ctx=team.admin).agents == []
    actions = audit_actions(team.workspace_id)
    assert [a for a, _ in actions] == ["budget.set", "budget.set", "budget.set", "budget.cleared"]
    assert actions[0][1] == (
        "Set the monthly budget of the workspace to $1,250.50 and 2,000,000 tokens (unpriced models)"
    )
    assert actions[3][1] == "Removed the monthly budget of the agent “Researcher”"


def test_the_card_shows_month_to_date_spending_against_each_budget(team):
    agent = make_agent(team.member, name="Researcher")
    service.set_budget(ctx=team.owner, scope="workspace", monthly_usd="10")
    service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id, monthly_usd="4")
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id, created_by=team.member.user_id, agent_id=agent.id, input="Hi"
        )
        session.add(run)
        session.flush()
        run_id = run.id
    store.finish_run(run_id, status="succeeded", cost_usd=Decimal("3"))

    limits = service.get_limits(ctx=team.owner)

    assert (limits.workspace.spent_usd, limits.workspace.usd_percent) == ("3.00", 30)
    assert (limits.agents[0].spent_usd, limits.agents[0].usd_percent) == ("3.00", 75)


@pytest.mark.parametrize(
    ("usd", "tokens", "field"),
    [
        ("0", None, "monthly_usd"),
        ("-5", None, "monthly_usd"),
        ("ten", None, "monthly_usd"),
        ("NaN", None, "monthly_usd"),
        ("Infinity", None, "monthly_usd"),
        ("12.345", None, "monthly_usd"),
        ("1e12", None, "monthly_usd"),
        (True, None, "monthly_usd"),
        ([1], None, "monthly_usd"),
        (None, "0", "monthly_tokens"),
        (None, "1.5", "monthly_tokens"),
        (None, -1, "monthly_tokens"),
        (None, 10**16, "monthly_tokens"),
        (None, "9" * 400, "monthly_tokens"),
    ],
)
def test_a_budget_that_is_not_a_positive_amount_in_range_is_refused(team, usd, tokens, field):
    with pytest.raises(ValidationError) as refused:
        service.set_budget(ctx=team.owner, scope="workspace", monthly_usd=usd, monthly_tokens=tokens)
    assert set(refused.value.field_errors) == {field}
    with session_scope() as session:
        assert session.exec(select(Budget)).all() == []


def test_an_unknown_scope_is_refused(team):
    with pytest.raises(ValidationError) as refused:
        service.set_budget(ctx=team.owner, scope="planet", monthly_usd="1")
    assert set(refused.value.field_errors) == {"scope"}


def test_another_workspaces_agent_or_member_or_a_deleted_agent_is_not_found(team, other_team):
    foreign_agent = make_agent(other_team.member)
    deleted = make_agent(team.member)
    agents.delete_agent(ctx=team.owner, agent_id=deleted.id)
    outsider = make_user()
    for scope, subject in [
        ("agent", foreign_agent.id),
        ("agent", deleted.id),
        ("agent", "\x00"),
        ("member", other_team.member.user_id),
        ("member", outsider.id),
        ("member", "x" * 5000),
    ]:
        with pytest.raises(NotFoundError):
            service.set_budget(ctx=team.owner, scope=scope, subject_id=subject, monthly_usd="1")
    with session_scope() as session:
        assert session.exec(select(Budget)).all() == []


def test_clearing_never_reaches_another_workspaces_budget(team, other_team):
    agent = make_agent(other_team.member)
    service.set_budget(ctx=other_team.owner, scope="agent", subject_id=agent.id, monthly_usd="5")

    service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id)

    assert len(service.get_limits(ctx=other_team.owner).agents) == 1
    assert audit_actions(team.workspace_id) == []


def test_a_deleted_agents_budget_is_listed_and_can_be_removed(team):
    agent = make_agent(team.member, name="Old")
    service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id, monthly_usd="5")
    agents.delete_agent(ctx=team.owner, agent_id=agent.id)

    assert [b.subject_name for b in service.get_limits(ctx=team.owner).agents] == ["(deleted agent)"]
    service.set_budget(ctx=team.owner, scope="agent", subject_id=agent.id)
    assert service.get_limits(ctx=team.owner).agents == []


def test_run_limits_stay_within_the_operator_maximums_and_are_audited(team, operator_max):
    limits = service.get_limits(ctx=team.admin)
    assert (limits.max_concurrent_runs, limits.run_starts_per_minute) == (4, 6)
    assert (limits.operator_max_concurrent_runs, limits.operator_max_run_starts_per_minute) == (4, 6)

    for concurrent, per_minute, fields in [
        (0, 1, {"max_concurrent_runs"}),
        (5, 1, {"max_concurrent_runs"}),
        (1, 7, {"run_starts_per_minute"}),
        ("two", -1, {"max_concurrent_runs", "run_starts_per_minute"}),
        (True, 1, {"max_concurrent_runs"}),
    ]:
        with pytest.raises(ValidationError) as refused:
            service.set_run_limits(
                ctx=team.admin, max_concurrent_runs=concurrent, run_starts_per_minute=per_minute
            )
        assert set(refused.value.field_errors) == fields

    service.set_run_limits(ctx=team.admin, max_concurrent_runs="2", run_starts_per_minute=3)
    assert (service.get_limits(ctx=team.owner).max_concurrent_runs, 3) == (2, 3)
    service.set_run_limits(ctx=team.owner, max_concurrent_runs="", run_starts_per_minute=None)  # cleared
    limits = service.get_limits(ctx=team.owner)
    assert (limits.max_concurrent_runs, limits.run_starts_per_minute) == (4, 6)
    with session_scope() as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "workspace.run_limits_changed")
            .order_by(col(AuditEvent.created_at))
        ).all()
    assert [e.summary for e in events] == [
        "Set the run limits to 2 at once and 3 starts per minute",
        "Set the run limits to 4 at once and 6 starts per minute",
    ]


def test_a_stored_limit_above_a_lowered_operator_maximum_is_clamped(team, operator_max):
    set_columns(Workspace, team.workspace_id, max_concurrent_runs=50, run_starts_per_minute=500)
    limits = service.get_limits(ctx=team.owner)
    assert (limits.max_concurrent_runs, limits.run_starts_per_minute) == (4, 6)


def test_the_workspace_concurrent_run_limit_refuses_a_start(team, operator_max):
    agent = make_agent(team.member)
    service.set_run_limits(ctx=team.owner, max_concurrent_runs=1, run_starts_per_minute=None)
    runs._create_run(team.member, agent.id, "Hi", "manual", None, None)

    with pytest.raises(RateLimitedError, match="already has 1 runs going \\(the limit is 1\\)"):
        runs._create_run(team.admin, agent.id, "Hi", "manual", None, None)


def test_the_workspace_starts_per_minute_count_every_member(team, operator_max):
    agent = make_agent(team.member)
    service.set_run_limits(ctx=team.owner, max_concurrent_runs=None, run_starts_per_minute=2)
    started = [
        runs._create_run(ctx, agent.id, "Hi", "manual", None, None) for ctx in (team.member, team.admin)
    ]
    for view in started:  # finished: only the per-minute limit is left to refuse
        set_columns(Run, view.id, status="succeeded")

    with pytest.raises(RateLimitedError, match="This workspace started 2 runs in the last minute") as refused:
        runs._create_run(team.owner, agent.id, "Hi", "manual", None, None)
    assert 1 <= refused.value.retry_after <= 61
