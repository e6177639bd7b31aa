"""/api/v1 runs: start (async, blocking, streaming), list with filters and pages, read, steps,
cancel and retry, as each role, from another workspace and signed out. Runs execute on the
provider emulator through the real queue (``engine``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.ratelimit import reset_sliding_window
from galaxyco_ui.services import api_keys, runs
from galaxyco_ui.services.agents import AgentView
from tests.api.v1.conftest import Keys, bearer, make_key
from tests.api.v1.run_fixtures import MODEL, close_clients, insert_run, sse_events, wire_agent
from tests.factories import Team, make_agent

PROBLEM = "application/problem+json"
BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.fixture
def wired(team: Team, emulator: Emulator) -> AgentView:
    return wire_agent(team, emulator)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``limits(NAME=value, ...)`` sets settings for one test; they are restored after it."""

    def apply(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()
        reset_sliding_window()

    yield apply
    monkeypatch.undo()
    reset_settings()
    reset_sliding_window()


# ---------------------------------------------------------------- starting


async def test_a_started_run_answers_202_at_once_with_its_location(api, keys: Keys, wired, emulator, engine):
    emulator.enqueue(Script([text("Hello."), usage(4, 2)]))
    response = await api.post(f"/agents/{wired.id}/runs", json={"input": "Say hello"}, headers=keys.member)

    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "queued" and run["trigger"] == "api" and run["input"] == "Say hello"
    assert response.headers["location"] == f"/api/v1/runs/{run['id']}"
    assert response.headers["x-galaxyco-run-id"] == run["id"]
    assert (await engine(run["id"])).status == "succeeded"
    got = await api.get(f"/runs/{run['id']}", headers=keys.viewer)
    assert got.status_code == 200 and got.json()["output"] == "Hello."


async def test_blocking_mode_answers_the_finished_run_with_its_output(
    api, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(30, 6)]))
    response = await api.post(
        f"/agents/{wired.id}/runs",
        json={"input": "6 times 7?", "response_mode": "blocking", "timeout": 30},
        headers=keys.admin,
    )

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "succeeded" and run["output"] == "The answer is 42."
    assert (run["input_tokens"], run["output_tokens"]) == (50, 14)
    assert "location" not in response.headers


async def test_blocking_mode_past_its_timeout_answers_202_with_the_run_as_it_is(
    api, team, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([text("one two three four five six seven eight", tokens_per_second=4)]))
    response = await api.post(
        f"/agents/{wired.id}/runs",
        json={"input": "Talk slowly", "response_mode": "blocking", "timeout": 0.5},
        headers=keys.admin,
    )

    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] in ("queued", "running")
    assert response.headers["location"] == f"/api/v1/runs/{run['id']}"
    await runs.cancel_run(ctx=team.admin, run_id=run["id"])
    assert (await engine(run["id"])).status == "cancelled"


async def test_streaming_mode_sends_ordered_typed_events_ending_with_run_finished(
    api, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([tool_call("calculator", {"expression": "2 + 3"}), usage(10, 4)]))
    emulator.enqueue(Script([text("It is 5."), usage(12, 3)]))
    response = await api.post(
        f"/agents/{wired.id}/runs",
        json={"input": "2 + 3?", "response_mode": "streaming"},
        headers=keys.member,
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
    run_id = response.headers["x-galaxyco-run-id"]
    events = sse_events(response.text)
    types = [e["event"] for e in events]
    assert types[:2] == ["run.queued", "run.started"] and types[-1] == "run.finished"
    assert types.index("tool.call") < types.index("tool.result") < types.index("text.delta")
    assert all(e["data"]["run_id"] == run_id for e in events)  # type: ignore[index]
    assert "".join(e["data"]["text"] for e in events if e["event"] == "text.delta") == "It is 5."  # type: ignore[index]
    finished = events[-1]["data"]
    assert finished["status"] == "succeeded" and finished["output"] == "It is 5."  # type: ignore[index]
    assert (await engine(run_id)).status == "succeeded"


async def test_an_idempotency_key_starts_one_run_and_replays_it(
    api, team, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([text("Once."), usage(1, 1)]))
    headers = {**keys.admin, "Idempotency-Key": "start-1"}
    first = await api.post(f"/agents/{wired.id}/runs", json={"input": "Once"}, headers=headers)
    again = await api.post(f"/agents/{wired.id}/runs", json={"input": "Once"}, headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(runs.list_runs(ctx=team.viewer).runs) == 1
    other = await api.post(f"/agents/{wired.id}/runs", json={"input": "Twice"}, headers=headers)
    assert other.status_code == 409
    await engine(first.json()["id"])


async def test_bad_start_input_is_a_422_problem_per_field(api, keys: Keys, wired):
    for body, field in [
        ({"input": ""}, "input"),
        ({"input": "x" * (runs.MAX_INPUT_CHARS + 1)}, "input"),
        ({"input": "Hi", "response_mode": "later"}, "response_mode"),
        ({"input": "Hi", "response_mode": "blocking", "timeout": 301}, "timeout"),
        ({"input": "   "}, "input"),
    ]:
        response = await api.post(f"/agents/{wired.id}/runs", json=body, headers=keys.admin)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM and field in response.json()["errors"]


async def test_the_workspaces_concurrent_run_cap_applies_with_429_and_retry_after(
    api, keys: Keys, wired, limits
):
    limits(WORKSPACE_MAX_CONCURRENT_RUNS=1)  # no engine: the first run stays queued
    assert (
        await api.post(f"/agents/{wired.id}/runs", json={"input": "1"}, headers=keys.admin)
    ).status_code == 202
    refused = await api.post(f"/agents/{wired.id}/runs", json={"input": "2"}, headers=keys.admin)
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
    assert int(refused.headers["retry-after"]) >= 1 and "limit is 1" in refused.json()["detail"]


async def test_the_per_user_start_limit_applies_to_the_keys_creator(api, keys: Keys, wired, limits):
    limits(USER_RUN_STARTS_PER_MINUTE=1)
    assert (
        await api.post(f"/agents/{wired.id}/runs", json={"input": "1"}, headers=keys.admin)
    ).status_code == 202
    refused = await api.post(f"/agents/{wired.id}/runs", json={"input": "2"}, headers=keys.admin)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "1 runs in the last minute" in refused.json()["detail"]
    # The member key's creator is another person (conftest: the admin; the admin key's is the owner).
    other_person = await api.post(f"/agents/{wired.id}/runs", json={"input": "3"}, headers=keys.member)
    assert other_person.status_code == 202


# ---------------------------------------------------------------- roles and tenancy


async def test_a_viewer_key_reads_runs_but_cannot_start_cancel_or_retry(api, team, keys: Keys, wired):
    run_id = insert_run(team.admin, wired.id, status="running", trigger="api")
    done_id = insert_run(team.admin, wired.id, status="failed", trigger="api")
    for path in ("/runs", f"/runs/{run_id}", f"/runs/{run_id}/steps", f"/runs/{done_id}/events"):
        assert (await api.get(path, headers=keys.viewer)).status_code == 200, path
    for path, body in [
        (f"/agents/{wired.id}/runs", {"input": "Hi"}),
        (f"/runs/{run_id}/cancel", None),
        (f"/runs/{done_id}/retry", None),
    ]:
        response = await api.post(path, json=body, headers=keys.viewer)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert runs.get_run(ctx=team.viewer, run_id=run_id).status == "running"
    assert len(runs.list_runs(ctx=team.viewer).runs) == 2


async def test_a_member_key_starts_cancels_and_retries_any_run_of_its_workspace(
    api, team, keys: Keys, wired, emulator, engine
):
    owners_agent = make_agent(team.owner, name="Owner's", provider="openai_compatible", model=MODEL)
    emulator.enqueue(Script([text("ok"), usage(1, 1)]))
    started = await api.post(f"/agents/{owners_agent.id}/runs", json={"input": "Hi"}, headers=keys.member)
    assert started.status_code == 202
    await engine(started.json()["id"])
    emulator.enqueue(Script([text("again"), usage(1, 1)]))
    retried = await api.post(f"/runs/{started.json()['id']}/retry", headers=keys.member)
    assert retried.status_code == 202 and retried.json()["retry_of"] == started.json()["id"]
    await engine(retried.json()["id"])
    queued = insert_run(team.owner, owners_agent.id, status="queued", trigger="manual")
    assert (await api.post(f"/runs/{queued}/cancel", headers=keys.member)).json()["status"] == "cancelled"


async def test_another_workspaces_runs_and_agents_are_not_found_everywhere(
    api, other_team, keys: Keys, other_keys: Keys
):
    foreign_agent = make_agent(other_team.admin)
    foreign = insert_run(other_team.admin, foreign_agent.id, status="succeeded", output="secret")
    for method, path, body in [
        ("POST", f"/agents/{foreign_agent.id}/runs", {"input": "Hi"}),
        ("GET", f"/runs/{foreign}", None),
        ("GET", f"/runs/{foreign}/steps", None),
        ("GET", f"/runs/{foreign}/events", None),
        ("POST", f"/runs/{foreign}/cancel", None),
        ("POST", f"/runs/{foreign}/retry", None),
    ]:
        response = await api.request(method, path, json=body, headers=keys.admin)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM and "secret" not in response.text
    assert foreign not in {r["id"] for r in (await api.get("/runs", headers=keys.admin)).json()["items"]}
    listed = await api.get("/runs", params={"agent_id": foreign_agent.id}, headers=keys.admin)
    assert listed.json()["items"] == []
    assert (await api.get(f"/runs/{foreign}", headers=other_keys.viewer)).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer gx_nope"}])
async def test_without_a_valid_key_every_run_endpoint_is_401(api, team, wired, headers):
    run_id = insert_run(team.admin, wired.id, status="succeeded")
    for method, path in [
        ("POST", f"/agents/{wired.id}/runs"),
        ("GET", "/runs"),
        ("GET", f"/runs/{run_id}"),
        ("GET", f"/runs/{run_id}/steps"),
        ("GET", f"/runs/{run_id}/events"),
        ("POST", f"/runs/{run_id}/cancel"),
        ("POST", f"/runs/{run_id}/retry"),
    ]:
        body = {"input": "Hi"} if path.endswith("/runs") and method == "POST" else None
        response = await api.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM


async def test_a_revoked_or_expired_key_cannot_start_a_run(api, team, wired):
    from galaxyco_ui.models import ApiKey, utcnow
    from tests.factories import set_columns

    headers = bearer(make_key(team, "admin"))
    api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
    revoked = await api.post(f"/agents/{wired.id}/runs", json={"input": "Hi"}, headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    expiring = bearer(make_key(team, "admin", name="expiring"))
    set_columns(
        ApiKey, api_keys.list_api_keys(ctx=team.owner)[0].id, expires_at=utcnow() - timedelta(seconds=1)
    )
    expired = await api.get("/runs", headers=expiring)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert runs.list_runs(ctx=team.owner).runs == []


# ---------------------------------------------------------------- list, read, cancel, retry


@pytest.fixture
def history(team, wired):  # type: ignore[no-untyped-def]
    """12 runs of two agents, 10 minutes apart (newest last), and their ids."""
    second = make_agent(team.admin, name="Second")
    statuses = ("succeeded", "failed", "cancelled")
    triggers = ("manual", "api", "schedule", "webhook")
    ids = [
        insert_run(
            team.admin,
            wired.id if i < 8 else second.id,
            status=statuses[i % 3],
            trigger=triggers[i % 4],
            created_at=BASE + timedelta(minutes=10 * i),
        )
        for i in range(12)
    ]
    return {"ids": ids, "first": wired.id, "second": second.id}


async def listed(api, headers, **params) -> list[str]:  # type: ignore[no-untyped-def]
    response = await api.get("/runs", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


async def test_the_run_list_filters_by_status_agent_trigger_and_time(api, keys: Keys, history):
    ids = history["ids"]
    assert await listed(api, keys.viewer) == list(reversed(ids))
    assert set(await listed(api, keys.viewer, status="failed")) == {ids[i] for i in range(12) if i % 3 == 1}
    assert set(await listed(api, keys.viewer, agent_id=history["second"])) == set(ids[8:])
    assert set(await listed(api, keys.viewer, trigger="webhook")) == {ids[i] for i in range(12) if i % 4 == 3}
    since, until = (BASE + timedelta(minutes=30)).isoformat(), (BASE + timedelta(minutes=60)).isoformat()
    assert set(await listed(api, keys.viewer, since=since, until=until)) == set(ids[3:6])
    naive = (BASE + timedelta(minutes=100)).replace(tzinfo=None).isoformat()  # taken as UTC
    assert set(await listed(api, keys.viewer, since=naive)) == set(ids[10:])
    both = await listed(api, keys.viewer, status="succeeded", trigger="schedule", agent_id=history["first"])
    assert both == [ids[6]]
    for params, field in [
        ({"status": "done"}, "status"),
        ({"trigger": "cron"}, "trigger"),
        ({"since": "x"}, "since"),
    ]:
        response = await api.get("/runs", params=params, headers=keys.viewer)
        assert response.status_code == 422 and field in response.json()["errors"], params


async def test_the_run_list_pages_by_cursor_without_gaps_or_repeats(api, keys: Keys, history):
    seen: list[str] = []
    cursor = ""
    while True:
        response = await api.get("/runs", params={"limit": 5, "cursor": cursor}, headers=keys.viewer)
        body = response.json()
        assert len(body["items"]) <= 5
        seen += [r["id"] for r in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert seen == list(reversed(history["ids"]))
    assert (await api.get("/runs", params={"limit": 201}, headers=keys.viewer)).status_code == 422
    assert (await api.get("/runs", params={"limit": 200}, headers=keys.viewer)).status_code == 200
    bad = await api.get("/runs", params={"cursor": "garbage"}, headers=keys.viewer)
    assert bad.status_code == 422 and "cursor" in bad.json()["errors"]


async def test_a_runs_steps_come_in_order(api, keys: Keys, wired, emulator, engine):
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("42."), usage(30, 6)]))
    run = (
        await api.post(
            f"/agents/{wired.id}/runs", json={"input": "6*7", "response_mode": "blocking"}, headers=keys.admin
        )
    ).json()
    steps = (await api.get(f"/runs/{run['id']}/steps", headers=keys.viewer)).json()
    assert [s["kind"] for s in steps["items"]] == ["model", "tool_call", "tool_result", "model"]
    assert steps["items"][2]["content"] == "42" and steps["next_cursor"] is None


async def test_cancel_stops_a_running_run(api, keys: Keys, wired, emulator, engine):
    emulator.enqueue(Script([text(" ".join(["word"] * 60), tokens_per_second=10)]))
    run = (await api.post(f"/agents/{wired.id}/runs", json={"input": "Talk"}, headers=keys.member)).json()
    for _ in range(250):
        if (await api.get(f"/runs/{run['id']}", headers=keys.viewer)).json()["status"] == "running":
            break
        await asyncio.sleep(0.02)
    response = await api.post(f"/runs/{run['id']}/cancel", headers=keys.member)
    assert response.status_code == 202 and response.json()["id"] == run["id"]
    finished = await engine(run["id"])
    assert finished.status == "cancelled" and finished.error == "Cancelled by a user."
    again = await api.post(f"/runs/{run['id']}/cancel", headers=keys.member)  # finished: left as it is
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


async def test_retry_starts_a_new_run_with_the_same_input_once_per_idempotency_key(
    api, team, keys: Keys, wired, emulator, engine
):
    emulator.enqueue(Script([text("First."), usage(1, 1)]))
    first = (
        await api.post(
            f"/agents/{wired.id}/runs", json={"input": "Go", "response_mode": "blocking"}, headers=keys.admin
        )
    ).json()
    emulator.enqueue(Script([text("Second."), usage(1, 1)]))
    headers = {**keys.admin, "Idempotency-Key": "retry-1"}
    retried = await api.post(f"/runs/{first['id']}/retry", headers=headers)
    replayed = await api.post(f"/runs/{first['id']}/retry", headers=headers)

    assert retried.status_code == replayed.status_code == 202, retried.text
    new = retried.json()
    assert new["id"] != first["id"] and new["retry_of"] == first["id"] and new["input"] == "Go"
    assert replayed.json()["id"] == new["id"] and retried.headers["location"] == f"/api/v1/runs/{new['id']}"
    assert (await engine(new["id"])).output == "Second."
    assert len(runs.list_runs(ctx=team.viewer).runs) == 2


async def test_the_openapi_document_describes_the_run_endpoints(api):
    spec = (await api.get("/openapi.json")).json()
    start = spec["paths"]["/agents/{agent_id}/runs"]["post"]
    assert {"200", "202", "401", "403", "404", "422", "429"} <= set(start["responses"])
    assert "text/event-stream" in start["responses"]["200"]["content"]
    events = spec["paths"]["/runs/{run_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    for path in (
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/steps",
        "/runs/{run_id}/cancel",
        "/runs/{run_id}/retry",
    ):
        assert path in spec["paths"], path


@pytest.mark.parametrize("bad", ["stop\x00here", "lone \ud800 surrogate"])
async def test_an_input_the_database_cannot_store_is_a_422_on_input_not_a_500(api, team, keys, bad):
    agent = make_agent(team.owner)
    response = await api.post(
        f"/agents/{agent.id}/runs",
        content=json.dumps({"input": bad}).encode(),
        headers={**keys.admin, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "input" in response.json()["errors"]
