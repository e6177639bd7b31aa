"""The approval card on a run's page is live for every watcher, and deciding goes through
the guarded service (a viewer's or an outsider's click decides nothing)."""

from __future__ import annotations

import asyncio

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, ToolApproval
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.states.approvals import ApprovalsState
from galaxyco_ui.states.run_detail import RunState
from tests.factories import SignedIn
from tests.states.conftest import Victim
from tests.states.harness import Browser, Hub


async def _until(browser: Browser, check, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if check(await browser.state(RunState)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def test_the_card_appears_and_disappears_live_for_every_watcher(hub: Hub, victim: Victim) -> None:
    run_id, approval_id = victim.ids["waiting_run"], victim.ids["approval"]
    await get_event_bus().publish(
        run_stream(run_id),
        "status",
        {
            "status": "waiting_approval",
            "approval_id": approval_id,
            "tool": "http_request",
            "arguments": {"n": 1},
        },
    )
    watchers = [hub.browser(session_token=victim.owner.token).at(f"/runs/{run_id}") for _ in range(2)]
    for watcher in watchers:
        await watcher.send(RunState.load)
    for watcher in watchers:
        await _until(watcher, lambda s: s.approval_id == approval_id, "the card did not appear")
    state = await watchers[0].state(RunState)
    assert state.approval_tool == "http_request" and '"n": 1' in state.approval_arguments

    await watchers[0].send(ApprovalsState.set_note, approval_id=approval_id, value="Go ahead.")
    await watchers[0].send(ApprovalsState.decide, approval_id=approval_id, decision="approve")

    for watcher in watchers:  # the decider's tab and the other one
        await _until(watcher, lambda s: s.approval_id == "", "the card did not go away")
    with session_scope() as session:
        approval = session.get(ToolApproval, approval_id)
        assert approval is not None and approval.status == "approved" and approval.note == "Go ahead."
    for watcher in watchers:
        await watcher.disconnect()


async def test_an_outsiders_decide_changes_nothing(hub: Hub, victim: Victim, outsider: SignedIn) -> None:
    attacker = hub.browser(session_token=outsider.token).at("/approvals")
    await attacker.send(ApprovalsState.decide, approval_id=victim.ids["approval"], decision="approve")
    await attacker.send(ApprovalsState.load)
    assert (await attacker.state(ApprovalsState)).items == []
    with session_scope() as session:
        approval = session.get(ToolApproval, victim.ids["approval"])
        run = session.get(Run, victim.ids["waiting_run"])
        assert approval is not None and approval.status == "pending"
        assert run is not None and run.status == "waiting_approval"
    assert victim.leaks(list(attacker.received())) == []
    await attacker.disconnect()


async def test_the_inbox_and_the_sidebar_count_follow_a_decision_made_elsewhere(
    hub: Hub, victim: Victim
) -> None:
    approval_id = victim.ids["approval"]
    inbox = hub.browser(session_token=victim.owner.token).at("/approvals")
    other_page = hub.browser(session_token=victim.owner.token).at("/agents")
    await inbox.send(ApprovalsState.load)
    await inbox.send(ApprovalsState.load_count)  # the sidebar of every page mounts it
    await other_page.send(ApprovalsState.load_count)
    assert [a.id for a in (await inbox.state(ApprovalsState)).items] == [approval_id]
    assert (await other_page.state(ApprovalsState)).count == 1

    decider = hub.browser(session_token=victim.owner.token).at(f"/runs/{victim.ids['waiting_run']}")
    await decider.send(ApprovalsState.decide, approval_id=approval_id, decision="deny")

    for _ in range(100):
        shown, counted = await inbox.state(ApprovalsState), await other_page.state(ApprovalsState)
        if shown.items == [] and shown.count == 0 and counted.count == 0:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the inbox or the other page's count did not follow the decision")
    for browser in (inbox, other_page, decider):
        await browser.disconnect()
