"""``/approvals`` and ``/runs/{id}/approval``: the inbox, approve and deny over the API, SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from galaxyco_ui.api.v1.run_events import api_events
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.services.agents import AgentView
from tests.api.v1.run_fixtures import close_clients, wire_agent
from tests.factories import Team


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.fixture
def asking(team: Team, emulator: Emulator) -> AgentView:
    return wire_agent(team, emulator, approval_tools=["calculator"])


async def waiting_run(api, keys, emulator, agent) -> str:  # type: ignore[no-untyped-def]
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("42."), usage(30, 6)]))
    started = await api.post(f"/agents/{agent.id}/runs", json={"input": "6 times 7?"}, headers=keys.member)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    for _ in range(300):
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            if run.status == "waiting_approval":
                return run_id
        await asyncio.sleep(0.05)
    raise AssertionError("the run never waited")


async def test_the_inbox_lists_the_waiting_call_and_approve_resumes_the_run(
    api, keys, other_keys, team, asking, emulator, engine
):
    run_id = await waiting_run(api, keys, emulator, asking)

    inbox = await api.get("/approvals", headers=keys.viewer)
    assert inbox.status_code == 200
    items = inbox.json()["items"]
    assert len(items) == 1 and items[0]["run_id"] == run_id and items[0]["status"] == "pending"
    assert items[0]["tool_name"] == "calculator" and items[0]["arguments"] == {"expression": "6 * 7"}
    assert (await api.get("/approvals", headers=other_keys.admin)).json()["items"] == []
    one = await api.get(f"/runs/{run_id}/approval", headers=keys.viewer)
    assert one.status_code == 200 and one.json()["id"] == items[0]["id"]
    assert (await api.get(f"/runs/{run_id}/approval", headers=other_keys.admin)).status_code == 404
    listed = await api.get("/runs", params={"status": "waiting_approval"}, headers=keys.viewer)
    assert [r["id"] for r in listed.json()["items"]] == [run_id]

    approval_id = items[0]["id"]
    refused = await api.post(f"/approvals/{approval_id}/approve", headers=keys.viewer)
    assert refused.status_code == 403
    foreign = await api.post(f"/approvals/{approval_id}/approve", headers=other_keys.admin)
    assert foreign.status_code == 404
    ok = await api.post(f"/approvals/{approval_id}/approve", json={"note": "fine"}, headers=keys.member)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["note"] == "fine"
    again = await api.post(f"/approvals/{approval_id}/deny", headers=keys.admin)
    assert again.status_code == 409
    assert "already approved by" in again.json()["detail"]

    run = await engine(run_id)
    assert run.status == "succeeded" and run.output == "42."
    assert (await api.get("/approvals", headers=keys.viewer)).json()["items"] == []


async def test_deny_with_a_note_and_a_too_long_note_is_refused(api, keys, asking, emulator, engine):
    run_id = await waiting_run(api, keys, emulator, asking)
    approval_id = (await api.get(f"/runs/{run_id}/approval", headers=keys.member)).json()["id"]

    long = await api.post(f"/approvals/{approval_id}/deny", json={"note": "x" * 2001}, headers=keys.member)
    assert long.status_code == 422 and "2,000" in long.json()["errors"]["note"]
    denied = await api.post(
        f"/approvals/{approval_id}/deny", json={"note": "Too risky."}, headers=keys.member
    )
    assert denied.status_code == 200 and denied.json()["status"] == "denied"

    run = await engine(run_id)
    assert run.status == "succeeded"
    steps = (await api.get(f"/runs/{run_id}/steps", headers=keys.viewer)).json()["items"]
    assert steps[2]["content"] == "A person denied this call: Too risky."


async def test_a_run_that_never_asked_has_no_approval(api, keys, team, emulator, engine):
    agent = wire_agent(team, emulator)
    emulator.enqueue(Script([text("Hi."), usage(1, 1)]))
    started = await api.post(f"/agents/{agent.id}/runs", json={"input": "hi"}, headers=keys.member)
    await engine(started.json()["id"])
    missing = await api.get(f"/runs/{started.json()['id']}/approval", headers=keys.member)
    assert missing.status_code == 404


async def test_the_run_events_say_the_run_waits_then_resumes(api, keys, team, asking, emulator, engine):
    run_id = await waiting_run(api, keys, emulator, asking)
    seen: list[str] = []

    async def follow() -> None:
        async for event in await api_events(team.member, run_id, ""):
            seen.append(event.type)
            if event.type == "run.waiting_approval":
                assert event.data["tool"] == "calculator" and event.data["approval_id"]
                approval_id = event.data["approval_id"]
                ok = await api.post(f"/approvals/{approval_id}/approve", headers=keys.member)
                assert ok.status_code == 200

    await asyncio.wait_for(follow(), timeout=20)
    assert seen[:2] == ["run.queued", "run.started"]
    waiting_at = seen.index("run.waiting_approval")
    assert seen[waiting_at + 1 : waiting_at + 3] == ["run.queued", "run.started"]
    assert seen[-1] == "run.finished"
    assert (await engine(run_id)).status == "succeeded"


async def test_the_openapi_document_lists_the_waiting_status(api):
    spec = (await api.get("/openapi.json")).json()
    assert "waiting_approval" in spec["components"]["schemas"]["RunView"]["properties"]["status"]["enum"]
    assert "/approvals/{approval_id}/approve" in spec["paths"]
    assert "409" in spec["paths"]["/approvals/{approval_id}/deny"]["post"]["responses"]
