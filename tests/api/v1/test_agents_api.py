"""/api/v1/agents as each role, from another workspace, signed out, and with dead keys;
plus the transport's shared rules (problem+json, paging, Idempotency-Key, OpenAPI, docs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.models import ApiKey, utcnow
from galaxyco_ui.services import api_keys
from tests.api.v1.conftest import Keys, bearer, make_key
from tests.factories import agent_data, make_agent, set_columns

PROBLEM = "application/problem+json"


def body(**overrides: object) -> dict[str, object]:
    return agent_data(**overrides)


async def test_admin_creates_reads_updates_and_deletes_an_agent(api, keys: Keys):
    created = await api.post("/agents", json=body(name="Support bot"), headers=keys.admin)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["name"] == "Support bot" and agent["tools"] == ["calculator"]

    got = await api.get(f"/agents/{agent['id']}", headers=keys.admin)
    assert got.status_code == 200 and got.json()["id"] == agent["id"]

    patched = await api.patch(
        f"/agents/{agent['id']}", json={"instructions": "Be brief."}, headers=keys.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["instructions"] == "Be brief."
    assert patched.json()["name"] == "Support bot"  # fields not sent keep their values

    deleted = await api.delete(f"/agents/{agent['id']}", headers=keys.admin)
    assert deleted.status_code == 204
    gone = await api.get(f"/agents/{agent['id']}", headers=keys.admin)
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM


async def test_a_viewer_key_reads_but_cannot_change(api, team, keys: Keys):
    agent = make_agent(team.owner)
    assert (await api.get("/agents", headers=keys.viewer)).json()["items"][0]["id"] == agent.id
    assert (await api.get(f"/agents/{agent.id}", headers=keys.viewer)).status_code == 200
    for response in (
        await api.post("/agents", json=body(), headers=keys.viewer),
        await api.patch(f"/agents/{agent.id}", json={"name": "x"}, headers=keys.viewer),
        await api.delete(f"/agents/{agent.id}", headers=keys.viewer),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 403
    assert (await api.get(f"/agents/{agent.id}", headers=keys.viewer)).json()["name"] == agent.name


async def test_a_member_key_edits_only_agents_its_creator_owns(api, team, keys: Keys):
    # Member keys are made by the admin (conftest): the admin's agents are the key's own.
    owners_agent = make_agent(team.owner)
    own = (await api.post("/agents", json=body(), headers=keys.member)).json()
    assert (
        await api.patch(f"/agents/{own['id']}", json={"description": "d"}, headers=keys.member)
    ).status_code == 200
    refused = await api.patch(f"/agents/{owners_agent.id}", json={"description": "d"}, headers=keys.member)
    assert refused.status_code == 403
    assert (await api.delete(f"/agents/{owners_agent.id}", headers=keys.member)).status_code == 403


async def test_another_workspaces_agent_is_not_found_for_every_method(api, other_team, keys: Keys):
    foreign = make_agent(other_team.owner)
    for response in (
        await api.get(f"/agents/{foreign.id}", headers=keys.admin),
        await api.patch(f"/agents/{foreign.id}", json={"name": "mine"}, headers=keys.admin),
        await api.delete(f"/agents/{foreign.id}", headers=keys.admin),
    ):
        assert response.status_code == 404, response.text
        assert (
            response.json()["detail"] == "That agent was not found."
            or "not found" in response.json()["detail"]
        )
    listed = (await api.get("/agents", headers=keys.admin)).json()["items"]
    assert foreign.id not in {a["id"] for a in listed}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic Zm9vOmJhcg=="}]
)
async def test_without_a_key_every_agent_endpoint_is_401(api, team, headers):
    agent = make_agent(team.owner)
    for method, path in [
        ("GET", "/agents"),
        ("POST", "/agents"),
        ("GET", f"/agents/{agent.id}"),
        ("PATCH", f"/agents/{agent.id}"),
        ("DELETE", f"/agents/{agent.id}"),
    ]:
        response = await api.request(
            method, path, headers=headers, json=body() if method in ("POST", "PATCH") else None
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_stops_at_once_and_an_expired_key_is_refused(api, team):
    secret = make_key(team, "admin")
    headers = bearer(secret)
    assert (await api.get("/agents", headers=headers)).status_code == 200
    key_id = api_keys.list_api_keys(ctx=team.owner)[0].id
    api_keys.revoke_api_key(ctx=team.owner, key_id=key_id)
    revoked = await api.get("/agents", headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]

    expiring = make_key(team, "admin", name="expiring")
    set_columns(
        ApiKey, api_keys.list_api_keys(ctx=team.owner)[0].id, expires_at=utcnow() - timedelta(seconds=1)
    )
    expired = await api.get("/agents", headers=bearer(expiring))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


async def test_invalid_fields_are_a_422_problem_with_a_message_per_field(api, keys: Keys):
    response = await api.post(
        "/agents", json=body(name="", provider="nope", temperature=9), headers=keys.admin
    )
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert {"name", "provider", "temperature"} <= set(problem["errors"]), problem
    not_json = await api.post(
        "/agents", content=b"{", headers={**keys.admin, "content-type": "application/json"}
    )
    assert not_json.status_code == 422 and not_json.headers["content-type"] == PROBLEM


async def test_a_duplicate_name_is_a_409_problem(api, team, keys: Keys):
    make_agent(team.owner, name="Taken")
    response = await api.post("/agents", json=body(name="taken"), headers=keys.admin)
    assert response.status_code == 409 and response.json()["errors"]["name"]


async def test_lists_page_with_limit_and_next_cursor_without_gaps_or_repeats(api, team, keys: Keys):
    made = {make_agent(team.owner).id for _ in range(5)}
    seen: list[str] = []
    cursor = ""
    while True:
        page = (await api.get("/agents", params={"limit": 2, "cursor": cursor}, headers=keys.viewer)).json()
        seen += [a["id"] for a in page["items"]]
        assert len(page["items"]) <= 2
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    too_many = await api.get("/agents", params={"limit": 201}, headers=keys.viewer)
    assert too_many.status_code == 422 and "limit" in too_many.json()["errors"]
    bad_cursor = await api.get("/agents", params={"cursor": "garbage"}, headers=keys.viewer)
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["errors"]


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api, keys: Keys):
    headers = {**keys.admin, "Idempotency-Key": "create-support-bot-1"}
    first = await api.post("/agents", json=body(name="Once"), headers=headers)
    again = await api.post("/agents", json=body(name="Once"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    listed = (await api.get("/agents", headers=keys.admin)).json()["items"]
    assert [a["name"] for a in listed].count("Once") == 1

    other = await api.post("/agents", json=body(name="Twice"), headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["errors"]


async def test_a_failed_create_frees_its_idempotency_key_for_the_corrected_request(api, keys: Keys):
    headers = {**keys.admin, "Idempotency-Key": "k-2"}
    assert (await api.post("/agents", json=body(provider="nope"), headers=headers)).status_code == 422
    fixed = await api.post("/agents", json=body(name="Fixed"), headers=headers)
    assert fixed.status_code == 201, fixed.text


async def test_the_openapi_document_and_the_offline_docs_page_are_served(api):
    spec = (await api.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/agents" in spec["paths"] and "ApiKey" in spec["components"]["securitySchemes"]
    responses = spec["paths"]["/agents"]["get"]["responses"]
    assert {"401", "403", "404", "422", "429"} <= set(responses)
    assert PROBLEM in responses["404"]["content"]
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "/api/v1/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    asset = await api.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


async def test_past_the_workspaces_per_minute_limit_a_key_gets_429_with_retry_after(api, team, keys: Keys):
    api_keys.set_api_rate_limit(ctx=team.owner, per_minute=2)
    statuses = [(await api.get("/agents", headers=keys.viewer)).status_code for _ in range(2)]
    limited = await api.get("/agents", headers=keys.viewer)
    assert statuses == [200, 200]
    assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["retry-after"]) >= 1
    assert (await api.get("/agents", headers=keys.admin)).status_code == 200  # the limit is per key


async def test_idempotency_answers_older_than_a_day_are_purged(api, keys: Keys, monkeypatch):
    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import IdempotencyRecord
    from galaxyco_ui.services import idempotency

    headers = {**keys.admin, "Idempotency-Key": "old-one"}
    assert (await api.post("/agents", json=body(name="Old"), headers=headers)).status_code == 201
    with session_scope() as session:
        for record in session.exec(select(IdempotencyRecord)).all():
            record.created_at = utcnow() - timedelta(hours=25)
    monkeypatch.setattr(idempotency, "_last_purge", 0.0)
    fresh = await api.post("/agents", json=body(name="New"), headers={**keys.admin, "Idempotency-Key": "new"})
    assert fresh.status_code == 201
    with session_scope() as session:
        assert [r.key for r in session.exec(select(IdempotencyRecord)).all()] == ["new"]
