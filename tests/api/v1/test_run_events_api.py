"""Run events as the API shows them: the mapping (run_events.py), and GET /runs/{id}/events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from galaxyco_ui.api.v1.run_events import api_events, wait_for_run
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import runs
from galaxyco_ui.services.agents import AgentView
from tests.api.v1.run_fixtures import close_clients, wire_agent
from tests.factories import Team


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.fixture
def wired(team: Team, emulator: Emulator) -> AgentView:
    return wire_agent(team, emulator)


async def collect(ctx, run_id: str, after: str = ""):  # type: ignore[no-untyped-def]
    return [e async for e in await api_events(ctx, run_id, after)]


async def test_a_runs_events_are_typed_ordered_and_end_with_run_finished(team, wired, emulator, engine):
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(30, 6)]))
    view = await runs.start_run(ctx=team.admin, agent_id=wired.id, input="6 times 7?", trigger="api")

    events = await collect(team.viewer, view.id)
    await engine(view.id)

    types = [e.type for e in events]
    assert types[:2] == ["run.queued", "run.started"] and types[-1] == "run.finished"
    assert types.index("tool.call") < types.index("tool.result") < types.index("text.delta")
    assert "usage" in types and "error" not in types
    assert all(e.data["run_id"] == view.id for e in events)
    ids = [int(e.id) if e.id.isdigit() else e.id for e in events]
    assert all(e.id for e in events) and len(set(ids)) == len(ids)
    assert "".join(e.data["text"] for e in events if e.type == "text.delta") == "The answer is 42."
    result = next(e for e in events if e.type == "tool.result")
    assert result.data["content"] == "42" and result.data["name"] == "calculator"
    finished = events[-1].data
    assert finished["status"] == "succeeded" and finished["output"] == "The answer is 42."
    assert (finished["input_tokens"], finished["output_tokens"]) == (50, 14)


async def test_wait_for_run_returns_the_finished_run(team, wired, emulator, engine):
    emulator.enqueue(Script([text("Done."), usage(3, 1)]))
    view = await runs.start_run(ctx=team.admin, agent_id=wired.id, input="Go", trigger="api")
    finished = await wait_for_run(team.viewer, view.id, within=20)
    assert finished.status == "succeeded" and finished.output == "Done."
