"""Run events as the API shows them: the mapping (run_events.py) and GET /runs/{id}/events:
replay then follow, resume by Last-Event-ID (over a real HTTP connection), runs told from
their record once their live stream is gone, pings, and the stream ending when access does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from galaxyco_ui.api.v1.run_events import PING, api_events, wait_for_run
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import RunStep, utcnow
from galaxyco_ui.services import api_keys, runs
from galaxyco_ui.services.agents import AgentView
from tests.api.v1.conftest import Keys, bearer, make_key
from tests.api.v1.run_fixtures import close_clients, insert_run, served, sse_events, wire_agent
from tests.factories import Team, make_agent


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


SLOW_TEXT = " ".join(f"word{i}" for i in range(40))


def cursor_key(event_id: str) -> tuple[int, ...]:
    """Bus ids in order: "42" in-process, "1700000000000-3" on Redis."""
    return tuple(int(part) for part in event_id.split("-"))


async def test_a_finished_runs_events_replay_over_http_with_sse_headers(
    api, team, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([text("All done."), usage(5, 2)]))
    view = await runs.start_run(ctx=team.admin, agent_id=wired.id, input="Go", trigger="api")
    await engine(view.id)

    response = await api.get(f"/runs/{view.id}/events", headers=keys.viewer)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
    events = sse_events(response.text)
    types = [e["event"] for e in events]
    runs_of_types = [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]
    assert runs_of_types == ["run.queued", "run.started", "text.delta", "usage", "run.finished"]
    assert all(e["id"] and e["data"]["run_id"] == view.id for e in events)  # type: ignore[index]
    assert events[-1]["data"]["output"] == "All done."  # type: ignore[index]
    # Resuming after the last event: nothing more, and the stream ends.
    after = await api.get(
        f"/runs/{view.id}/events", headers={**keys.viewer, "Last-Event-ID": str(events[-1]["id"])}
    )
    assert after.status_code == 200 and sse_events(after.text) == []
    # Resuming in the middle: exactly the rest.
    middle = await api.get(
        f"/runs/{view.id}/events", headers={**keys.viewer, "Last-Event-ID": str(events[1]["id"])}
    )
    assert sse_events(middle.text) == events[2:]


async def test_a_failed_run_sends_error_then_run_finished(api, team, keys: Keys, emulator, engine):
    agent = make_agent(team.admin, provider="anthropic", model="claude-x")  # no Anthropic key is set
    view = await runs.start_run(ctx=team.admin, agent_id=agent.id, input="Hi", trigger="api")
    await engine(view.id)

    events = sse_events((await api.get(f"/runs/{view.id}/events", headers=keys.viewer)).text)

    assert [e["event"] for e in events][-2:] == ["error", "run.finished"]
    assert events[-2]["id"] == "" and "Anthropic" in events[-2]["data"]["message"]  # type: ignore[index]
    assert events[-1]["data"]["status"] == "failed"  # type: ignore[index]


def insert_old_run(team: Team, agent_id: str, **values: object) -> str:
    """A finished run whose live stream is long gone: a tool call, its result, an answer."""
    started = utcnow() - timedelta(days=3)
    fields: dict[str, object] = {
        "status": "succeeded",
        "output": "It is 42.",
        "input_tokens": 50,
        "output_tokens": 14,
        "started_at": started,
        "finished_at": started + timedelta(seconds=2),
        "trigger": "api",
        **values,
    }
    run_id = insert_run(team.admin, agent_id, **fields)
    steps = [
        (
            "model",
            "",
            {"tool_calls": [{"id": "c1", "name": "calculator", "arguments": {"expression": "6*7"}}]},
        ),
        ("tool_call", "calculator", {"id": "c1", "name": "calculator", "arguments": {"expression": "6*7"}}),
        ("tool_result", "42", {"id": "c1", "name": "calculator", "is_error": False}),
        ("model", "It is 42.", {"tool_calls": []}),
    ]
    with session_scope() as session:
        for position, (kind, content, data) in enumerate(steps):
            session.add(
                RunStep(
                    workspace_id=team.workspace_id,
                    run_id=run_id,
                    position=position,
                    kind=kind,
                    content=content,
                    data=data,
                    duration_ms=7,
                )
            )
    return run_id


async def test_a_run_whose_stream_expired_is_told_from_its_record_and_resumes(api, team, keys: Keys):
    agent = make_agent(team.admin)
    run_id = insert_old_run(team, agent.id)

    events = sse_events((await api.get(f"/runs/{run_id}/events", headers=keys.viewer)).text)

    assert [e["event"] for e in events] == [
        "run.started",
        "tool.call",
        "tool.result",
        "text.delta",
        "usage",
        "run.finished",
    ]
    assert [e["id"] for e in events] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert events[1]["data"]["arguments"] == {"expression": "6*7"}  # type: ignore[index]
    assert events[2]["data"]["content"] == "42" and events[3]["data"]["text"] == "It is 42."  # type: ignore[index]
    assert events[4]["data"]["input_tokens"] == 50 and events[5]["data"]["status"] == "succeeded"  # type: ignore[index]
    resumed = await api.get(f"/runs/{run_id}/events", headers={**keys.viewer, "Last-Event-ID": "s3"})
    assert sse_events(resumed.text) == events[3:]

    failed = insert_old_run(team, agent.id, status="failed", output="", error="The provider refused.")
    told = sse_events((await api.get(f"/runs/{failed}/events", headers=keys.viewer)).text)
    assert [e["event"] for e in told][-2:] == ["error", "run.finished"]
    assert told[-2]["data"]["message"] == "The provider refused."  # type: ignore[index]
    last_before = told[-3]["id"]
    again = await api.get(
        f"/runs/{failed}/events", headers={**keys.viewer, "Last-Event-ID": str(last_before)}
    )
    assert [e["event"] for e in sse_events(again.text)] == ["error", "run.finished"]


@pytest.mark.parametrize("cursor", ["garbage", "1-2-3", "s", "-1", "9" * 20, "9" * 65])
async def test_a_last_event_id_we_never_sent_is_a_422_problem(api, team, keys: Keys, cursor):
    run_id = insert_old_run(team, make_agent(team.admin).id)
    response = await api.get(f"/runs/{run_id}/events", headers={**keys.viewer, "Last-Event-ID": cursor})
    assert response.status_code == 422 and "Last-Event-ID" in response.json()["errors"]


async def test_run_events_are_404_for_another_workspace_and_401_without_a_valid_key(
    api, team, other_team, keys: Keys
):
    foreign = insert_old_run(other_team, make_agent(other_team.admin).id)
    own = insert_old_run(team, make_agent(team.admin).id)
    missing = await api.get(f"/runs/{foreign}/events", headers=keys.admin)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"/runs/{own}/events")).status_code == 401
    secret = make_key(team, "viewer", name="short-lived")
    key_id = next(k.id for k in api_keys.list_api_keys(ctx=team.owner) if k.name == "short-lived")
    api_keys.revoke_api_key(ctx=team.owner, key_id=key_id)
    revoked = await api.get(f"/runs/{own}/events", headers=bearer(secret))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


async def test_a_stream_ends_with_an_error_event_when_its_key_is_revoked_mid_run(
    api, team, wired, emulator, engine
):
    emulator.enqueue(Script([text(SLOW_TEXT, tokens_per_second=8)]))
    secret = make_key(team, "viewer", name="watcher")
    view = await runs.start_run(ctx=team.admin, agent_id=wired.id, input="Talk slowly", trigger="api")
    watching = asyncio.create_task(api.get(f"/runs/{view.id}/events", headers=bearer(secret)))
    await asyncio.sleep(0.5)
    key_id = next(k.id for k in api_keys.list_api_keys(ctx=team.owner) if k.name == "watcher")
    api_keys.revoke_api_key(ctx=team.owner, key_id=key_id)

    events = sse_events((await asyncio.wait_for(watching, 10)).text)

    assert events[-1]["event"] == "error" and "revoked" in events[-1]["data"]["message"]  # type: ignore[index]
    assert "run.finished" not in [e["event"] for e in events]
    # Watching stopped, not the run (a SAQ worker may not have picked it up yet).
    assert runs.get_run(ctx=team.admin, run_id=view.id).status in ("queued", "running")
    await runs.cancel_run(ctx=team.admin, run_id=view.id)
    await engine(view.id)


async def test_keepalive_pings_while_the_run_is_quiet(team, wired, emulator, engine):
    emulator.enqueue(Script([text("slow answer here", tokens_per_second=2)]))
    view = await runs.start_run(ctx=team.admin, agent_id=wired.id, input="Slowly", trigger="api")

    events = [e async for e in await api_events(team.viewer, view.id, keepalive=0.2)]

    assert PING in [e.type for e in events] and events[-1].type == "run.finished"
    assert next(e for e in events if e.type == PING).sse() == b": ping\n\n"
    await engine(view.id)


# ---------------------------------------------------------------- resuming over real HTTP


async def read_events(
    response: httpx.Response, *, stop_after_deltas: int | None = None
) -> list[dict[str, object]]:
    """Events as they arrive; with ``stop_after_deltas``, stop after that many text deltas."""
    events: list[dict[str, object]] = []
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        events += sse_events("\n".join(block))
        block = []
        deltas = sum(1 for e in events if e["event"] == "text.delta")
        if stop_after_deltas is not None and deltas >= stop_after_deltas:
            break
    return events


async def test_a_dropped_stream_resumes_with_last_event_id_with_no_gap_or_duplicate(
    team, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([text(SLOW_TEXT, tokens_per_second=25)]))
    async with served() as base, httpx.AsyncClient(base_url=base, headers=keys.viewer, timeout=20) as client:
        started = await client.post(f"/agents/{wired.id}/runs", json={"input": "Talk"}, headers=keys.admin)
        run_id = started.json()["id"]
        async with client.stream("GET", f"/runs/{run_id}/events") as first:
            before = await read_events(first, stop_after_deltas=3)
        # The connection is gone mid-run.
        assert "run.finished" not in [e["event"] for e in before]
        assert runs.get_run(ctx=team.viewer, run_id=run_id).status == "running"
        last_id = str(before[-1]["id"])
        async with client.stream(
            "GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": last_id}
        ) as second:
            after = await read_events(second)
        full = sse_events((await client.get(f"/runs/{run_id}/events")).text)

    joined = before + after
    assert joined == full
    ids = [str(e["id"]) for e in joined]
    assert all(ids) and [cursor_key(i) for i in ids] == sorted({cursor_key(i) for i in ids})
    assert after[-1]["event"] == "run.finished" and after[-1]["data"]["status"] == "succeeded"  # type: ignore[index]
    text_sent = "".join(e["data"]["text"] for e in joined if e["event"] == "text.delta")  # type: ignore[index]
    assert text_sent == SLOW_TEXT == (await engine(run_id)).output
