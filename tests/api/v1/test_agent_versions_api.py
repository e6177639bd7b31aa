"""/api/v1 agent versions: list, read, diff, restore; runs pinned by ``version``, by ``<id>@<n>``
and through the OpenAI-compatible ``model`` (``Support Bot@1``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from galaxyco_ui.devtools.script import Script, text
from galaxyco_ui.services import agents
from tests.api.v1.conftest import Keys, make_key
from tests.api.v1.run_fixtures import close_clients
from tests.api.v1.test_openai_compat import runs_of, sdk, wire  # noqa: F401  (sdk is a fixture)
from tests.factories import edit_agent, make_agent

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.fixture
def three(team, emulator):  # type: ignore[no-untyped-def]
    """The member's "Support Bot" at version 3: instructions "Be brief." → "Two" → "Three"."""
    agent = wire(team, emulator)
    edit_agent(team.member, agent.id, instructions="Two")
    edit_agent(team.member, agent.id, instructions="Three")
    return agent


# ---------------------------------------------------------------- versions


async def test_versions_are_listed_newest_first_and_read_one_by_one(api, keys: Keys, three):
    listed = await api.get(f"/agents/{three.id}/versions", headers=keys.viewer)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(v["number"], v["current"]) for v in items] == [(3, True), (2, False), (1, False)]

    one = await api.get(f"/agents/{three.id}/versions/1", headers=keys.viewer)
    assert one.status_code == 200
    assert one.json()["config"]["instructions"] == "Be brief."
    assert one.json()["number"] == 1

    agent = await api.get(f"/agents/{three.id}", headers=keys.viewer)
    assert agent.json()["version"] == 3


async def test_restore_answers_the_new_version_and_the_agent_runs_it(api, keys: Keys, team, three):
    # An admin key: a member key acts as the admin who created it, so it would pass as well.
    response = await api.post(f"/agents/{three.id}/versions/1/restore", headers=keys.admin)

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["number"], body["note"], body["current"]) == (4, "Restored from version 1", True)
    assert body["config"]["instructions"] == "Be brief."
    assert agents.get_agent(ctx=team.member, agent_id=three.id).instructions == "Be brief."

    again = await api.post(f"/agents/{three.id}/versions/4/restore", headers=keys.admin)
    assert again.status_code == 422 and "already" in again.json()["errors"]["version"]


async def test_a_viewer_may_not_restore(api, keys: Keys, team, three):
    response = await api.post(f"/agents/{three.id}/versions/1/restore", headers=keys.viewer)
    assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    assert agents.get_agent(ctx=team.member, agent_id=three.id).version == 3


async def test_a_viewer_reads_the_diff_of_two_versions_as_the_history_tab_shows_it(api, keys: Keys, three):
    response = await api.get(f"/agents/{three.id}/versions/1/diff/3", headers=keys.viewer)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["a"], body["b"]) == (1, 3)
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["instructions"] == {
        "field": "instructions",
        "label": "Instructions",
        "before": "Be brief.",
        "after": "Three",
        "changed": True,
    }
    assert not fields["model"]["changed"] and fields["model"]["before"] == "test-model"
    assert body["instructions"] == [
        {"kind": "removed", "text": "Be brief."},
        {"kind": "added", "text": "Three"},
    ]

    backwards = (await api.get(f"/agents/{three.id}/versions/3/diff/1", headers=keys.viewer)).json()
    assert backwards["instructions"] == [
        {"kind": "removed", "text": "Three"},
        {"kind": "added", "text": "Be brief."},
    ]
    same = (await api.get(f"/agents/{three.id}/versions/2/diff/2", headers=keys.viewer)).json()
    assert not any(f["changed"] for f in same["fields"])
    assert same["instructions"] == [{"kind": "same", "text": "Two"}]


@pytest.mark.parametrize("path", ["/versions/9/diff/1", "/versions/1/diff/9"])
async def test_a_diff_with_an_unknown_version_is_a_404_problem_naming_it(api, keys: Keys, three, path):
    response = await api.get(f"/agents/{three.id}{path}", headers=keys.viewer)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert "Version 9 of that agent" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/versions/0/diff/1", "/versions/1/diff/x", "/versions/1/diff/99999999999"])
async def test_a_diff_of_no_version_number_is_a_422(api, keys: Keys, three, path):
    response = await api.get(f"/agents/{three.id}{path}", headers=keys.viewer)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


async def test_the_diff_is_in_the_openapi_schema(api, keys: Keys):
    schema = (await api.get("/openapi.json", headers=keys.viewer)).json()
    operation = schema["paths"]["/agents/{agent_id}/versions/{number}/diff/{other}"]["get"]
    assert operation["summary"] == "Compare two agent versions"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/VersionDiff"}
    assert {"a", "b", "fields", "instructions"} <= set(
        schema["components"]["schemas"]["VersionDiff"]["properties"]
    )


@pytest.mark.parametrize("path", ["/versions/9", "/versions/9/restore"])
async def test_an_unknown_version_is_a_404_problem_naming_it(api, keys: Keys, three, path):
    method = "POST" if path.endswith("restore") else "GET"
    response = await api.request(method, f"/agents/{three.id}{path}", headers=keys.admin)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert "Version 9 of that agent" in response.json()["detail"]


@pytest.mark.parametrize("number", ["0", "-1", "x", "99999999999"])
async def test_a_version_that_is_no_number_is_a_422(api, keys: Keys, three, number):
    response = await api.get(f"/agents/{three.id}/versions/{number}", headers=keys.admin)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


async def test_another_workspaces_versions_are_not_found(api, other_keys: Keys, three):
    for method, path in [
        ("GET", "/versions"),
        ("GET", "/versions/1"),
        ("POST", "/versions/1/restore"),
        ("GET", "/versions/1/diff/2"),
    ]:
        response = await api.request(method, f"/agents/{three.id}{path}", headers=other_keys.admin)
        assert response.status_code == 404, (method, path, response.text)
    assert "Be brief" not in response.text


# ---------------------------------------------------------------- pinned runs


async def test_a_run_pinned_by_body_version_runs_that_versions_instructions(
    api, keys: Keys, three, emulator, engine
):
    emulator.enqueue(Script([text("ok")]))
    response = await api.post(
        f"/agents/{three.id}/runs",
        json={"input": "Hi", "version": 2, "response_mode": "blocking"},
        headers=keys.member,
    )
    assert response.status_code == 200, response.text
    assert response.json()["agent_version"] == 2
    assert emulator.requests[-1].body["messages"][0] == {"role": "system", "content": "Two"}


async def test_a_run_pinned_as_id_at_version_runs_that_version(api, keys: Keys, three, emulator, engine):
    emulator.enqueue(Script([text("ok")]))
    response = await api.post(
        f"/agents/{three.id}@1/runs", json={"input": "Hi", "response_mode": "blocking"}, headers=keys.member
    )
    assert response.status_code == 200, response.text
    assert response.json()["agent_version"] == 1
    assert emulator.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_an_unpinned_run_records_the_latest_version(api, keys: Keys, three, emulator, engine):
    emulator.enqueue(Script([text("ok")]))
    response = await api.post(f"/agents/{three.id}/runs", json={"input": "Hi"}, headers=keys.member)
    assert response.status_code == 202 and response.json()["agent_version"] == 3
    await engine(response.json()["id"])


@pytest.mark.parametrize(
    ("suffix", "body", "status", "words"),
    [
        ("@7", {}, 404, "Version 7 of that agent"),
        ("", {"version": 7}, 404, "Version 7 of that agent"),
        ("@1", {"version": 2}, 422, "pins version 1"),
        ("", {"version": 0}, 422, ""),
    ],
)
async def test_a_pin_to_no_such_version_starts_nothing(
    api, keys: Keys, team, three, suffix, body, status, words
):
    response = await api.post(
        f"/agents/{three.id}{suffix}/runs", json={"input": "Hi", **body}, headers=keys.member
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert words in response.text
    assert runs_of(team.workspace_id) == []


# ---------------------------------------------------------------- OpenAI-compatible


async def test_the_openai_model_name_at_a_version_pins_it(sdk, team, three, emulator, engine):  # noqa: F811
    emulator.enqueue(Script([text("From version one")]))
    client = sdk(make_key(team, "member"))

    completion = await client.chat.completions.create(
        model="support bot@1", messages=[{"role": "user", "content": "Hi"}]
    )

    assert completion.choices[0].message.content == "From version one"
    assert completion.model == "Support Bot@1"
    assert emulator.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    (run,) = runs_of(team.workspace_id)
    assert run.agent_version == 1
    assert (await client.models.retrieve("Support Bot@2")).id == "Support Bot@2"


async def test_an_openai_model_at_an_unknown_version_is_not_found(sdk, team, three):  # noqa: F811
    client = sdk(make_key(team, "member"))
    with pytest.raises(openai.NotFoundError, match="Version 9 of that agent"):
        await client.chat.completions.create(
            model="Support Bot@9", messages=[{"role": "user", "content": "Hi"}]
        )
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("Support Bot@9")
    assert runs_of(team.workspace_id) == []


async def test_an_agent_whose_own_name_ends_in_at_a_number_is_found_first(
    sdk,  # noqa: F811
    team,
    three,
    emulator,
    engine,
):
    named = make_agent(team.member, name="Support Bot@1", provider="openai_compatible", model="test-model",
                       instructions="I am the one named so.")  # fmt: skip
    emulator.enqueue(Script([text("ok")]))

    await sdk(make_key(team, "member")).chat.completions.create(
        model="Support Bot@1", messages=[{"role": "user", "content": "Hi"}]
    )

    (run,) = runs_of(team.workspace_id)
    assert run.agent_id == named.id and run.agent_version == 1
    assert emulator.requests[-1].body["messages"][0]["content"] == "I am the one named so."


# ---------------------------------------------------------------- schedules


async def test_a_schedule_is_pinned_kept_and_unpinned_through_the_api(api, keys: Keys, three):
    body = {"agent_id": three.id, "cron": "0 9 * * *", "input": "Report", "agent_version": 2}
    created = await api.post("/schedules", json=body, headers=keys.admin)
    assert created.status_code == 201, created.text
    assert created.json()["agent_version"] == 2
    path = f"/schedules/{created.json()['id']}"

    kept = await api.patch(path, json={"cron": "0 10 * * *"}, headers=keys.admin)
    assert kept.json()["agent_version"] == 2
    unpinned = await api.patch(path, json={"agent_version": None}, headers=keys.admin)
    assert unpinned.json()["agent_version"] is None

    missing = await api.post("/schedules", json={**body, "agent_version": 8}, headers=keys.admin)
    assert missing.status_code == 422
    assert missing.json()["errors"]["agent_version"] == "This agent has no version 8."
