"""/api/v1/schedules as each role, from another workspace, signed out and with dead keys;
cron and time zone errors, paging per agent and across the workspace."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import ApiKey, Schedule, utcnow
from galaxyco_ui.services import agents, api_keys, schedules
from tests.api.v1.conftest import Keys, bearer, make_key
from tests.factories import Team, make_agent, set_columns

PROBLEM = "application/problem+json"


def body(agent_id: str, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "agent_id": agent_id,
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "input": "Summarise yesterday's tickets.",
    }
    data.update(overrides)
    return data


def _schedule(ctx, agent_id: str, cron: str = "0 9 * * 1-5") -> str:  # type: ignore[no-untyped-def]
    return schedules.create_schedule(
        ctx=ctx, agent_id=agent_id, cron=cron, timezone="UTC", input="Report the numbers."
    ).id


def _rows() -> list[Schedule]:
    with session_scope() as session:
        return list(session.exec(select(Schedule).where(Schedule.deleted_at == None)).all())  # noqa: E711


async def test_admin_creates_reads_updates_and_deletes_a_schedule(api, team: Team, keys: Keys):
    agent = make_agent(team.owner)
    created = await api.post("/schedules", json=body(agent.id), headers=keys.admin)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert (schedule["agent_id"], schedule["cron"], schedule["timezone"]) == (
        agent.id,
        "0 9 * * 1-5",
        "Europe/Paris",
    )
    assert schedule["enabled"] and len(schedule["next_fires"]) == 3 and schedule["can_edit"]
    assert "09:00" in schedule["next_fires"][0]

    got = await api.get(f"/schedules/{schedule['id']}", headers=keys.admin)
    assert got.status_code == 200 and got.json()["input"] == "Summarise yesterday's tickets."
    patched = await api.patch(
        f"/schedules/{schedule['id']}", json={"cron": "30 7 * * *", "enabled": False}, headers=keys.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["cron"] == "30 7 * * *" and patched.json()["enabled"] is False
    assert patched.json()["next_fires"] == []
    assert patched.json()["timezone"] == "Europe/Paris"  # fields not sent keep their values
    assert patched.json()["input"] == "Summarise yesterday's tickets."

    listed = (await api.get("/schedules", params={"agent_id": agent.id}, headers=keys.admin)).json()
    assert [s["id"] for s in listed["items"]] == [schedule["id"]] and listed["next_cursor"] is None

    deleted = await api.delete(f"/schedules/{schedule['id']}", headers=keys.admin)
    assert deleted.status_code == 204
    gone = await api.get(f"/schedules/{schedule['id']}", headers=keys.admin)
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM
    assert (await api.get("/schedules", headers=keys.admin)).json()["items"] == []


async def test_a_wrong_cron_or_time_zone_is_a_422_naming_the_field_and_creates_nothing(
    api, team: Team, keys: Keys
):
    agent = make_agent(team.owner)
    cases = [
        ({"cron": "every morning"}, "cron", "five fields"),
        ({"cron": "0 9 * *"}, "cron", "five fields"),
        ({"cron": "61 9 * * *"}, "cron", "five fields"),
        ({"cron": "0 0 31 2 *"}, "cron", "never fires"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"timezone": "Europe"}, "timezone", "IANA"),
        ({"input": "   "}, "input", "what the agent should do"),
        ({"enabled": "sometimes"}, "enabled", ""),
    ]
    for overrides, field, words in cases:
        response = await api.post("/schedules", json=body(agent.id, **overrides), headers=keys.admin)
        assert response.status_code == 422, (overrides, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert words in response.json()["errors"][field], (overrides, response.json())
    assert _rows() == []

    schedule = _schedule(team.owner, agent.id)
    for change, field in (({"cron": "0 25 * * *"}, "cron"), ({"timezone": "Nowhere/Town"}, "timezone")):
        refused = await api.patch(f"/schedules/{schedule}", json=change, headers=keys.admin)
        assert refused.status_code == 422 and field in refused.json()["errors"], refused.text
    assert [(s.cron, s.timezone) for s in _rows()] == [("0 9 * * 1-5", "UTC")]


async def test_a_viewer_key_reads_schedules_but_cannot_change_them(api, team: Team, keys: Keys):
    agent = make_agent(team.owner)
    schedule = _schedule(team.owner, agent.id)
    assert (await api.get("/schedules", headers=keys.viewer)).json()["items"][0]["id"] == schedule
    viewed = await api.get(f"/schedules/{schedule}", headers=keys.viewer)
    assert viewed.status_code == 200 and viewed.json()["can_edit"] is False
    for response in (
        await api.post("/schedules", json=body(agent.id), headers=keys.viewer),
        await api.patch(f"/schedules/{schedule}", json={"enabled": False}, headers=keys.viewer),
        await api.delete(f"/schedules/{schedule}", headers=keys.viewer),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM
    assert [(s.id, s.enabled) for s in _rows()] == [(schedule, True)]


async def test_a_member_key_manages_only_the_schedules_its_creator_made(api, team: Team, keys: Keys):
    # Member keys are made by the admin (conftest): the admin's schedules are the key's own.
    agent = make_agent(team.owner)
    owners = _schedule(team.owner, agent.id)
    own = (await api.post("/schedules", json=body(agent.id), headers=keys.member)).json()
    assert own["can_edit"]
    assert (
        await api.patch(f"/schedules/{own['id']}", json={"input": "Shorter."}, headers=keys.member)
    ).json()["input"] == "Shorter."
    for response in (
        await api.patch(f"/schedules/{owners}", json={"enabled": False}, headers=keys.member),
        await api.delete(f"/schedules/{owners}", headers=keys.member),
    ):
        assert response.status_code == 403, response.text
    assert (await api.delete(f"/schedules/{own['id']}", headers=keys.member)).status_code == 204
    assert [(s.id, s.enabled) for s in _rows()] == [(owners, True)]


async def test_another_workspaces_schedules_and_agents_are_not_found(
    api, team: Team, other_team: Team, keys: Keys
):
    foreign_agent = make_agent(other_team.owner)
    foreign = _schedule(other_team.owner, foreign_agent.id)
    mine = _schedule(team.owner, make_agent(team.owner).id)
    for response in (
        await api.get(f"/schedules/{foreign}", headers=keys.admin),
        await api.patch(f"/schedules/{foreign}", json={"enabled": False}, headers=keys.admin),
        await api.delete(f"/schedules/{foreign}", headers=keys.admin),
        await api.get("/schedules", params={"agent_id": foreign_agent.id}, headers=keys.admin),
        await api.post("/schedules", json=body(foreign_agent.id), headers=keys.admin),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM
    listed = (await api.get("/schedules", headers=keys.admin)).json()["items"]
    assert [s["id"] for s in listed] == [mine]
    with session_scope() as session:
        row = session.get(Schedule, foreign)
        assert row is not None and row.enabled and row.deleted_at is None
        assert len(session.exec(select(Schedule)).all()) == 2


async def test_without_a_key_every_schedule_endpoint_is_401(api, team: Team):
    agent = make_agent(team.owner)
    schedule = _schedule(team.owner, agent.id)
    for method, path in [
        ("GET", "/schedules"),
        ("POST", "/schedules"),
        ("GET", f"/schedules/{schedule}"),
        ("PATCH", f"/schedules/{schedule}"),
        ("DELETE", f"/schedules/{schedule}"),
    ]:
        response = await api.request(
            method, path, json=body(agent.id) if method in ("POST", "PATCH") else None
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert len(_rows()) == 1


async def test_a_revoked_or_expired_key_cannot_create_a_schedule(api, team: Team):
    agent = make_agent(team.owner)
    secret = make_key(team, "admin")
    api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
    revoked = await api.post("/schedules", json=body(agent.id), headers=bearer(secret))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]

    expiring = make_key(team, "admin", name="expiring")
    set_columns(
        ApiKey, api_keys.list_api_keys(ctx=team.owner)[0].id, expires_at=utcnow() - timedelta(seconds=1)
    )
    expired = await api.post("/schedules", json=body(agent.id), headers=bearer(expiring))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert _rows() == []


async def _all_pages(api, headers: dict[str, str], **params: str) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    cursor = ""
    while True:
        page = (
            await api.get("/schedules", params={**params, "limit": 2, "cursor": cursor}, headers=headers)
        ).json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        if not page["next_cursor"]:
            return seen
        cursor = page["next_cursor"]


async def test_schedules_page_per_agent_and_across_the_workspace_without_gaps_or_repeats(
    api, team: Team, keys: Keys
):
    first, second, retired = (make_agent(team.owner) for _ in range(3))
    of_first = [_schedule(team.owner, first.id, f"{m} 9 * * *") for m in range(3)]
    of_second = [_schedule(team.admin, second.id, f"{m} 10 * * *") for m in range(2)]
    _schedule(team.owner, retired.id)
    agents.delete_agent(ctx=team.owner, agent_id=retired.id)  # its schedule is not listed

    everywhere = await _all_pages(api, keys.viewer)
    assert sorted(everywhere) == sorted(of_first + of_second) and len(everywhere) == 5
    assert sorted(await _all_pages(api, keys.viewer, agent_id=first.id)) == sorted(of_first)
    newest_first = (await api.get("/schedules", headers=keys.viewer)).json()["items"]
    assert [s["id"] for s in newest_first] == list(reversed(of_first + of_second))

    bad_cursor = await api.get("/schedules", params={"cursor": "garbage"}, headers=keys.viewer)
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["errors"]
    too_many = await api.get("/schedules", params={"limit": 201}, headers=keys.viewer)
    assert too_many.status_code == 422 and "limit" in too_many.json()["errors"]


async def test_an_idempotency_key_creates_a_schedule_once(api, team: Team, keys: Keys):
    agent = make_agent(team.owner)
    headers = {**keys.admin, "Idempotency-Key": "nightly-report"}
    first = await api.post("/schedules", json=body(agent.id), headers=headers)
    again = await api.post("/schedules", json=body(agent.id), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await api.post("/schedules", json=body(agent.id, cron="0 8 * * *"), headers=headers)
    assert other.status_code == 409
    assert len(_rows()) == 1
