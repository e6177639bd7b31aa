"""POST /api/v1/hooks/{token}: an agent's trigger URL, called with JSON, text, wrong tokens
and oversized bodies, without any API key."""

from __future__ import annotations

import json

import pytest

from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.services import agent_hooks, runs
from tests.api.v1.run_fixtures import wire_agent
from tests.factories import make_agent

PROBLEM = "application/problem+json"


def _hook(team, template: str = "{{ body }}"):  # type: ignore[no-untyped-def]
    agent = make_agent(team.member)
    return agent, agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template=template)


async def test_a_json_post_answers_202_with_the_queued_webhook_run(api, team, engine):
    agent, hook = _hook(team, "Summarise {{ body.issue.title }} ({{ body.labels.0 }})")

    response = await api.post(
        f"/hooks/{hook.token}", json={"issue": {"title": "Login broken"}, "labels": ["bug", "p1"]}
    )

    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"run_id", "status", "run_url"}
    assert answer["status"] == "queued"
    assert answer["run_url"] == f"http://localhost:3000/runs/{answer['run_id']}"
    run = runs.get_run(ctx=team.viewer, run_id=answer["run_id"])
    assert (run.trigger, run.agent_id, run.input) == ("webhook", agent.id, "Summarise Login broken (bug)")
    await engine(answer["run_id"])


@pytest.mark.parametrize(
    "content_type", ["text/plain; charset=utf-8", "application/x-www-form-urlencoded", ""]
)
async def test_a_body_that_is_not_json_is_the_text_itself(api, team, engine, content_type):
    _agent, hook = _hook(team, "Handle: {{ body }}")
    headers = {"Content-Type": content_type} if content_type else {}

    response = await api.post(f"/hooks/{hook.token}", content="Disk full on db-2 ✓".encode(), headers=headers)

    assert response.status_code == 202, response.text
    run = runs.get_run(ctx=team.viewer, run_id=response.json()["run_id"])
    assert run.input == "Handle: Disk full on db-2 ✓"
    await engine(run.id)


async def test_a_json_flavoured_content_type_is_read_as_json(api, team, engine):
    _agent, hook = _hook(team, "{{ body.data.text }}")

    response = await api.post(
        f"/hooks/{hook.token}",
        content=b'{"data": {"text": "from a CloudEvent"}}',
        headers={"Content-Type": "application/cloudevents+json"},
    )

    assert response.status_code == 202, response.text
    assert runs.get_run(ctx=team.viewer, run_id=response.json()["run_id"]).input == "from a CloudEvent"
    await engine(response.json()["run_id"])


@pytest.mark.parametrize(
    "token",
    ["gxh_" + "A" * 43, "gx_nothing", "not-a-token", "gxh_" + "A" * 150, "%00", "gxh_%C3%A9" + "a" * 40],
)
async def test_a_wrong_token_is_a_404_problem_and_starts_nothing(api, team, token):
    _hook(team)

    response = await api.post(f"/hooks/{token}", json={"x": 1})

    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 404
    assert runs.list_runs(ctx=team.owner).runs == []


async def test_a_regenerated_or_disabled_url_is_a_404(api, team):
    agent, hook = _hook(team)
    agent_hooks.regenerate_hook_token(ctx=team.member, agent_id=agent.id)

    assert (await api.post(f"/hooks/{hook.token}", content=b"hi")).status_code == 404
    fresh = agent_hooks.get_hook(ctx=team.member, agent_id=agent.id)
    assert fresh is not None
    agent_hooks.disable_hook(ctx=team.member, agent_id=agent.id)
    assert (await api.post(f"/hooks/{fresh.token}", content=b"hi")).status_code == 404


async def test_a_body_over_1_mb_is_a_413_problem_and_starts_nothing(api, team):
    _agent, hook = _hook(team)

    response = await api.post(f"/hooks/{hook.token}", content=b"x" * (1024 * 1024 + 1))

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert runs.list_runs(ctx=team.owner).runs == []


async def test_a_body_over_1_mb_sent_without_a_length_is_refused_too(api, team):
    _agent, hook = _hook(team)

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(17):
            yield b"y" * 65536

    response = await api.post(f"/hooks/{hook.token}", content=chunks())

    assert response.status_code == 413, response.text
    assert runs.list_runs(ctx=team.owner).runs == []


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    [
        (b'{"broken": ', "application/json", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "body"),
        (b"\xff\xfe not utf-8", "text/plain", "body"),
        (b'{"text": "\\u0000"}', "application/json", "body"),
        (b"{}", "application/json", "body"),  # renders to an empty input
    ],
)
async def test_a_body_that_cannot_become_an_input_is_a_422_problem(api, team, content, content_type, field):
    _agent, hook = _hook(team, "{{ body.text }}")

    response = await api.post(f"/hooks/{hook.token}", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert set(response.json()["errors"]) == {field}
    assert runs.list_runs(ctx=team.owner).runs == []


def _wired_hook(team, emulator, template: str = "{{ body.text }}"):  # type: ignore[no-untyped-def]
    agent = wire_agent(team, emulator, tools=[])
    return agent_hooks.enable_hook(ctx=team.admin, agent_id=agent.id, input_template=template)


async def test_blocking_answers_200_with_the_finished_run(api, team, emulator, engine):
    hook = _wired_hook(team, emulator)
    emulator.enqueue(Script([text("Blocked and done."), usage(4, 3)]))

    response = await api.post(f"/hooks/{hook.token}?response_mode=blocking&timeout=20", json={"text": "Go"})

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["status"], run["output"], run["trigger"], run["input"]) == (
        "succeeded",
        "Blocked and done.",
        "webhook",
        "Go",
    )
    assert response.headers["X-GalaxyCo-Run-Id"] == run["id"]
    await engine(run["id"])


async def test_blocking_can_be_asked_for_in_a_json_body(api, team, emulator, engine):
    hook = _wired_hook(team, emulator)
    emulator.enqueue(Script([text("From the body."), usage(4, 3)]))

    response = await api.post(f"/hooks/{hook.token}", json={"text": "Go", "response_mode": "blocking"})

    assert response.status_code == 200, response.text
    assert response.json()["output"] == "From the body."
    await engine(response.json()["id"])


async def test_blocking_past_its_timeout_answers_202_with_the_run_id(api, team, emulator, engine):
    hook = _wired_hook(team, emulator)
    emulator.enqueue(Script([text("Later."), usage(4, 3)]))

    response = await api.post(f"/hooks/{hook.token}?response_mode=blocking&timeout=0", json={"text": "Go"})

    assert response.status_code == 202, response.text
    assert set(response.json()) == {"run_id", "status", "run_url"}
    assert (await engine(response.json()["run_id"])).status == "succeeded"


async def test_streaming_answers_the_runs_server_sent_events_until_it_finishes(api, team, emulator, engine):
    hook = _wired_hook(team, emulator)
    emulator.enqueue(Script([text("Streamed "), text("answer."), usage(4, 3)]))

    response = await api.post(f"/hooks/{hook.token}?response_mode=streaming", json={"text": "Go"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    run_id = response.headers["X-GalaxyCo-Run-Id"]
    events = [block for block in response.text.split("\n\n") if block.strip()]
    types = [
        line.removeprefix("event: ")
        for block in events
        for line in block.splitlines()
        if line.startswith("event: ")
    ]
    assert types[0] == "run.queued" and types[-1] == "run.finished"
    data = [
        json.loads(line.removeprefix("data: "))
        for b in events
        for line in b.splitlines()
        if line.startswith("data: ")
    ]
    assert all(d["run_id"] == run_id for d in data)
    assert (
        "".join(d.get("text", "") for d, t in zip(data, types, strict=True) if t == "text.delta")
        == "Streamed answer."
    )
    assert (data[-1]["status"], data[-1]["output"]) == ("succeeded", "Streamed answer.")
    await engine(run_id)


async def test_an_unknown_response_mode_is_a_422_problem(api, team):
    _agent, hook = _hook(team)

    by_query = await api.post(f"/hooks/{hook.token}?response_mode=later", json={"a": 1})
    by_body = await api.post(f"/hooks/{hook.token}", json={"a": 1, "response_mode": "later"})

    for response in (by_query, by_body):
        assert response.status_code == 422, response.text
        assert "response_mode" in response.json()["errors"]
    assert runs.list_runs(ctx=team.owner).runs == []


async def test_an_issuer_who_left_makes_the_url_a_403_problem(api, team):
    from galaxyco_ui.services import team as team_service

    _agent, hook = _hook(team)
    team_service.leave_workspace(ctx=team.member)

    response = await api.post(f"/hooks/{hook.token}", content=b"hello")

    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_too_many_requests_to_one_url_are_a_429_with_retry_after(api, team):
    _agent, hook = _hook(team, "{{ body.text }}")
    for _ in range(agent_hooks.HOOK_REQUESTS_PER_MINUTE):
        assert (await api.post(f"/hooks/{hook.token}", json={})).status_code == 422

    response = await api.post(f"/hooks/{hook.token}", json={"text": "one more"})

    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert runs.list_runs(ctx=team.owner).runs == []


async def test_the_trigger_url_is_in_the_openapi_document_without_api_key_security(api):
    document = (await api.get("/openapi.json")).json()

    operation = document["paths"]["/hooks/{token}"]["post"]
    assert operation["security"] == []
    assert "token in the path is the credential" in operation["description"]
    assert {"application/json", "text/plain"} <= set(operation["requestBody"]["content"])
    assert {"202", "404", "413", "422", "429"} <= set(operation["responses"])
