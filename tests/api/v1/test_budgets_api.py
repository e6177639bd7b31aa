"""/api/v1 over a used-up budget: a run start is a 429 problem naming the budget and its reset
date, with Retry-After running until the budget resets (the first instant of next UTC month)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, utcnow
from galaxyco_ui.runs import budgets, store
from galaxyco_ui.services import budgets as budget_service
from tests.api.v1.conftest import Keys
from tests.api.v1.run_fixtures import close_clients, wire_agent

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


async def test_a_start_over_the_workspace_budget_is_a_429_with_the_reset_date(
    api, team, keys: Keys, emulator
):
    agent = wire_agent(team, emulator)
    budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_usd="1")
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id, created_by=team.member.user_id, agent_id=agent.id, input="x"
        )
        session.add(run)
        session.flush()
        run_id = run.id
    store.finish_run(run_id, status="succeeded", cost_usd=Decimal("1.5"))

    response = await api.post(f"/agents/{agent.id}/runs", json={"input": "Hi"}, headers=keys.member)

    now = utcnow()
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == (
        f"The workspace's monthly budget of $1.00 is used up ($1.50 this month). "
        f"It resets on {budgets.reset_label(now)}."
    )
    assert abs(int(response.headers["Retry-After"]) - budgets.seconds_until_reset(now)) <= 5
