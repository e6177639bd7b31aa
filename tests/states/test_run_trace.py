"""The run page shows the trace id of a run that was traced, and nothing when it was not."""

from __future__ import annotations

from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.infra import tracing
from galaxyco_ui.services import runs
from galaxyco_ui.states.run_detail import RunState
from tests.factories import sign_in_as
from tests.runs.conftest import wired
from tests.spans import spans
from tests.states.conftest import _user
from tests.states.harness import Hub

__all__ = ["spans", "wired"]


async def _page_of(hub: Hub, user_id: str, run_id: str) -> RunState:
    tab = hub.browser(session_token=sign_in_as(_user(user_id)).token).at(f"/runs/{run_id}")
    await tab.send(RunState.load)
    return await tab.state(RunState)


async def test_the_run_page_shows_the_trace_id_of_a_traced_run(
    hub: Hub, wired, emulator, engine, spans
) -> None:
    team, agent = wired
    emulator.enqueue(Script([text("Traced."), usage(1, 1)]))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await engine(view.id)).status == "succeeded"
    trace_id = runs.get_run(ctx=team.viewer, run_id=view.id).trace_id
    assert len(trace_id) == 32 and int(trace_id, 16)

    state = await _page_of(hub, team.viewer.user_id, view.id)

    assert state.run_id == view.id
    assert state.trace_id == trace_id
    assert state.trace_label == f"{trace_id[:6]}…"


async def test_a_run_that_was_not_traced_shows_no_trace(hub: Hub, wired, emulator, engine) -> None:
    assert not tracing.tracing_enabled()
    team, agent = wired
    emulator.enqueue(Script([text("Untraced."), usage(1, 1)]))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await engine(view.id)).status == "succeeded"

    state = await _page_of(hub, team.viewer.user_id, view.id)

    assert state.run_id == view.id
    assert (state.trace_id, state.trace_label) == ("", "")
