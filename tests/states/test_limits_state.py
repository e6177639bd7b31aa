"""Settings → Limits as the browser drives it: an owner's load shows the budgets and spending,
bad amounts come back under their fields, an "add" with neither amount is refused rather than
read as "remove", removing works; a member's load holds nothing and their saves are refused."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Budget, Run, User
from galaxyco_ui.runs import store
from galaxyco_ui.states.limits import LimitsState
from tests.factories import insert_agent, make_team, sign_in_as
from tests.states.harness import Hub


def _signed_in(team, role: Role):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        user = session.get(User, team.ctx(role).user_id)
    assert user is not None
    signed = sign_in_as(user)
    assert signed.auth.workspace_id == team.workspace_id
    return signed


async def test_an_owner_sets_and_removes_budgets_and_sees_the_spending(hub: Hub):
    team = make_team("Budget Co")
    agent = insert_agent(team.workspace_id, created_by=team.owner.user_id, name="Researcher")
    with session_scope() as session:
        run = Run(workspace_id=team.workspace_id, created_by=team.member.user_id, agent_id=agent, input="x")
        session.add(run)
        session.flush()
        run_id = run.id
    store.finish_run(run_id, status="succeeded", cost_usd=Decimal("2"))
    tab = hub.browser(session_token=_signed_in(team, Role.OWNER).token).at("/settings")

    await tab.send(LimitsState.load)
    state = await tab.state(LimitsState)
    assert state.can_manage and state.workspace.spent_usd == "2.00" and state.workspace.usd_text == ""
    assert [name for _, name in state.agent_options] == ["Researcher"]

    await tab.send(LimitsState.save_workspace_budget, form={"monthly_usd": "-1", "monthly_tokens": ""})
    assert "monthly_usd" in (await tab.state(LimitsState)).workspace_errors
    await tab.send(LimitsState.save_workspace_budget, form={"monthly_usd": "8", "monthly_tokens": ""})
    state = await tab.state(LimitsState)
    assert (state.workspace_errors, state.workspace.usd_text, state.workspace.usd_percent) == (
        {},
        "$2.00 of $8.00 this month",
        25,
    )

    await tab.send(
        LimitsState.add_agent_budget, form={"agent_id": agent, "monthly_usd": "", "monthly_tokens": ""}
    )
    assert set((await tab.state(LimitsState)).agent_errors) == {"monthly_usd"}
    await tab.send(
        LimitsState.add_agent_budget, form={"agent_id": agent, "monthly_usd": "4", "monthly_tokens": ""}
    )
    state = await tab.state(LimitsState)
    assert [(b.subject_name, b.usd_percent) for b in state.agents] == [("Researcher", 50)]

    await tab.send(LimitsState.remove_agent_budget, agent_id=agent)
    assert (await tab.state(LimitsState)).agents == []
    with session_scope() as session:
        assert [b.scope for b in session.exec(select(Budget)).all()] == ["workspace"]


async def test_a_members_load_holds_nothing_and_their_saves_change_nothing(hub: Hub):
    team = make_team("Budget Co")
    tab = hub.browser(session_token=_signed_in(team, Role.MEMBER).token).at("/settings")

    await tab.send(LimitsState.load)
    state = await tab.state(LimitsState)
    assert not state.can_manage and state.agent_options == [] and state.member_options == []
    await tab.send(LimitsState.save_workspace_budget, form={"monthly_usd": "1"})
    await tab.send(LimitsState.save_run_limits, form={"max_concurrent_runs": "1"})
    await tab.send(LimitsState.add_member_budget, form={"user_id": team.member.user_id, "monthly_usd": "1"})

    with session_scope() as session:
        assert session.exec(select(Budget)).all() == []
    assert "Your role in this workspace does not allow that." in "".join(tab.received())
