"""The live run view's background ``follow``: replaying it never streams another
workspace's run (issue 8, item 2: the leak found by replaying the handler)."""

from __future__ import annotations

import asyncio

import pytest

from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.states.run_detail import RunState
from tests.factories import SignedIn
from tests.states.conftest import Victim
from tests.states.harness import Hub


async def test_the_owner_sees_the_live_run_streamed(hub: Hub, victim: Victim) -> None:
    """The control: the harness does see a run's live text when it may be seen."""
    owner = hub.browser(session_token=victim.owner.token).at(f"/runs/{victim.ids['live_run']}")
    await owner.send(RunState.load)
    await owner.settle(5)
    state = await owner.state(RunState)
    assert state.run_id == victim.ids["live_run"]
    text = "\n".join(owner.received())
    for label in ("LIVETEXT", "LIVEARG", "LIVERESULT"):
        assert any(s.startswith(f"VICTIM{label}") and s in text for s in victim.secrets), label
    assert await owner.disconnect() == []


@pytest.mark.parametrize("who", ["signed out", "owner of another workspace"])
async def test_a_replayed_follow_streams_nothing_of_another_workspaces_run(
    who: str, hub: Hub, victim: Victim, outsider: SignedIn
) -> None:
    attacker = hub.browser(session_token="" if who == "signed out" else outsider.token)
    attacker.at(f"/runs/{victim.ids['live_run']}")
    await attacker.send(RunState.load)  # "not found" for them
    state = await attacker.state(RunState)
    # Replay follow with the counter the page would use, and with the ones around it.
    for generation in {state._generation, state._generation + 1, 0, 1}:
        await attacker.send(RunState.follow, generation=generation)
    # More of the run arrives meanwhile: it must not reach the attacker either.
    late = victim.secret("latetext")
    await get_event_bus().publish(run_stream(victim.ids["live_run"]), "text", {"step": 0, "delta": late})
    await attacker.settle(5)
    assert attacker.running() == [] or await attacker.disconnect() == []
    assert victim.leaks(list(attacker.received())) == []
    assert (await attacker.state(RunState)).run_id in ("", None)


async def test_follow_ends_by_itself_when_its_run_is_not_in_the_callers_workspace(
    hub: Hub, victim: Victim, outsider: SignedIn
) -> None:
    attacker = hub.browser(session_token=outsider.token).at(f"/runs/{victim.ids['live_run']}")
    await attacker.send(RunState.load)
    state = await attacker.state(RunState)
    await attacker.send(RunState.follow, generation=state._generation)
    await attacker.settle(5)
    # Still connected: only the tenant check can have stopped it.
    for _ in range(40):
        if not any(name.endswith(".follow") for name in attacker.running()):
            break
        await asyncio.sleep(0.05)
    assert not any(name.endswith(".follow") for name in attacker.running())
    assert victim.leaks(list(attacker.received())) == []
