"""/usage as the browser drives it: the load shows the 30-day figures and chart data, a
filter narrows them, an unknown choice is refused under its field, the CSV download
carries only this workspace's filtered rows; the agent page's month line."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User
from galaxyco_ui.states.usage import AgentUsageState, UsageState
from tests.factories import insert_agent, make_team, sign_in_as
from tests.services.test_usage import finish
from tests.states.harness import Hub


def _seed():  # type: ignore[no-untyped-def]
    team = make_team("Usage Co")
    with session_scope() as session:
        owner = session.get(User, team.owner.user_id)
    assert owner is not None
    signed = sign_in_as(owner)
    assert signed.auth.workspace_id == team.workspace_id
    today = datetime.now(UTC).date()
    alpha = insert_agent(team.workspace_id, created_by=owner.id, name="Alpha")
    beta = insert_agent(team.workspace_id, created_by=owner.id, name="Beta")
    finish(team, alpha, day=today, cost="1.00")
    finish(team, beta, day=today, cost="3.00", status="failed")
    other = make_team("Elsewhere")
    foreign = insert_agent(other.workspace_id, created_by=other.member.user_id, name="Foreign agent")
    finish(other, foreign, day=today, cost="7.00")
    return signed, alpha, beta


def _figure(state, label: str) -> str:  # type: ignore[no-untyped-def]
    return next(f[1] for f in state.figures if f[0] == label)


async def test_the_page_loads_filters_and_downloads_this_workspaces_usage(hub: Hub):
    signed, alpha, _ = _seed()
    tab = hub.browser(session_token=signed.token).at("/usage")
    await tab.send(UsageState.load)
    state = await tab.state(UsageState)
    assert state.loaded and state.has_runs
    assert (_figure(state, "Runs"), _figure(state, "Cost"), _figure(state, "Success rate")) == (
        "2",
        "$4.00",
        "50.0 %",
    )
    assert {b["label"] for b in state.by_agent} == {"Alpha", "Beta"}
    assert len(state.days) == 30 and state.days[-1]["failed"] == 1

    await tab.send(UsageState.apply_filters, form={"period": "7d", "agent": alpha, "trigger": ""})
    state = await tab.state(UsageState)
    assert (_figure(state, "Runs"), _figure(state, "Cost")) == ("1", "$1.00")
    assert len(state.days) == 7

    await tab.send(UsageState.download_csv)
    sent = "\n".join(tab.received())
    match = re.search(r"data:text/csv;base64,([A-Za-z0-9+/=]+)", sent)
    assert match, "no CSV download was sent"
    content = base64.b64decode(match.group(1)).decode()
    assert "Alpha" in content and "Beta" not in content and "Foreign" not in content


async def test_an_unknown_period_or_trigger_is_refused_under_its_field(hub: Hub):
    signed, _, _ = _seed()
    tab = hub.browser(session_token=signed.token).at("/usage")
    await tab.send(UsageState.load)
    await tab.send(UsageState.apply_filters, form={"period": "forever", "trigger": "cron"})
    state = await tab.state(UsageState)
    assert set(state.errors) == {"period", "trigger"}


async def test_the_agent_page_shows_its_month_to_date(hub: Hub):
    signed, _, beta = _seed()
    tab = hub.browser(session_token=signed.token).at(f"/agents/{beta}")
    await tab.send(AgentUsageState.load)
    state = await tab.state(AgentUsageState)
    assert (state.month_runs, state.month_cost) == ("1 run", "$3.00")
    await tab.at("/agents/0123456789abcdef0123456789abcdef").send(AgentUsageState.load)
    assert (await tab.state(AgentUsageState)).month_label == ""
