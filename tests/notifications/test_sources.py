"""Each kind is recorded where it happens, for the right people, and announced."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.devtools.docgen import make_encrypted_pdf
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import (
    Notification,
    Run,
    Schedule,
    WebhookDelivery,
    WebhookEndpoint,
    Workspace,
    utcnow,
)
from galaxyco_ui.notifications import live
from galaxyco_ui.runs import store
from galaxyco_ui.services import invitations, knowledge, runs, schedules, webhooks
from galaxyco_ui.webhooks import delivery
from galaxyco_ui.webhooks.events import record_event
from tests.factories import Team, make_agent, make_user, set_columns


def _notes(kind: str | None = None) -> list[Notification]:
    with session_scope() as session:
        query = select(Notification).order_by(Notification.created_at)  # type: ignore[arg-type]  # column
        if kind:
            query = query.where(Notification.kind == kind)
        return list(session.exec(query).all())


def _schedule(team: Team, agent_id: str) -> str:
    view = schedules.create_schedule(
        ctx=team.member, agent_id=agent_id, cron="* * * * *", timezone="UTC", input="Report"
    )
    set_columns(Schedule, view.id, next_fire_at=utcnow() - timedelta(minutes=1))
    return view.id


def _running_run(team: Team, agent_id: str, **values: object) -> str:
    with session_scope() as session:
        columns: dict[str, object] = {"status": "running", "heartbeat_at": utcnow(), **values}
        run = Run(
            workspace_id=team.workspace_id,
            agent_id=agent_id,
            created_by=team.owner.user_id,
            **columns,  # type: ignore[arg-type]  # columns
        )
        session.add(run)
        return run.id


# ---------------------------------------------------------------- scheduled run failed


async def test_a_failed_scheduled_run_notifies_the_schedules_creator_live(team: Team, engine) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(team.member, name="Nightly report")  # no provider key: the run fails
    _schedule(team, agent.id)

    async with live.subscribe(team.member.user_id, team.workspace_id) as bell:
        [run_id] = await schedules.tick()
        run = await engine(run_id)
        assert run.status == "failed"
        assert await bell.wait(5.0) is True

    [note] = _notes()
    assert (note.kind, note.user_id, note.workspace_id) == (
        "schedule_failed",
        team.member.user_id,
        team.workspace_id,
    )
    assert note.title == "Scheduled run of Nightly report failed"
    assert note.link == f"/runs/{run_id}" and note.body == run.error.strip()[:500] and note.body


async def test_a_failed_manual_run_notifies_nobody(team: Team, engine) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(team.member)
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await engine(view.id)).status == "failed"
    assert _notes() == []


async def test_a_scheduled_run_whose_worker_was_lost_notifies_its_creator(team: Team) -> None:
    agent = make_agent(team.member)
    lost = _running_run(team, agent.id, trigger="schedule", heartbeat_at=utcnow() - timedelta(hours=1))
    manual = _running_run(team, agent.id, heartbeat_at=utcnow() - timedelta(hours=1))

    await schedules.tick()

    assert [(n.kind, n.user_id, n.link) for n in _notes()] == [
        ("schedule_failed", team.owner.user_id, f"/runs/{lost}")
    ]
    assert manual  # failed too, silently: it was started by hand


def test_finishing_a_run_twice_records_one_notification(team: Team) -> None:
    agent = make_agent(team.member)
    run_id = _running_run(team, agent.id, trigger="schedule")
    first = store.finish_run(run_id, status="failed", error="Boom")
    second = store.finish_run(run_id, status="failed", error="Boom")
    assert first is not None and first.notice is not None and first.notice.in_app == (team.owner.user_id,)
    assert second is None
    assert len(_notes()) == 1


# ---------------------------------------------------------------- scheduled run skipped


async def test_a_skipped_slot_is_notified_once_per_streak(team: Team, engine) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(team.member, name="Digest")
    schedule_id = _schedule(team, agent.id)
    set_columns(Workspace, team.workspace_id, max_concurrent_runs=1)
    busy = _running_run(team, agent.id)

    assert await schedules.tick() == []
    [first] = {n.title for n in _notes("schedule_skipped")}
    assert first == "Scheduled run of Digest skipped"
    skipped = _notes("schedule_skipped")
    # The schedule's creator and the owners and admins; not the viewer.
    assert sorted(n.user_id for n in skipped) == sorted(
        [team.member.user_id, team.owner.user_id, team.admin.user_id]
    )
    assert all("runs going" in n.body and n.link == f"/agents/{agent.id}" for n in skipped)

    for _ in range(3):  # every minute, still full: nothing more
        set_columns(Schedule, schedule_id, next_fire_at=utcnow() - timedelta(seconds=1))
        assert await schedules.tick() == []
    assert len(_notes("schedule_skipped")) == 3

    set_columns(Run, busy, status="succeeded", finished_at=utcnow())
    set_columns(Schedule, schedule_id, next_fire_at=utcnow() - timedelta(seconds=1))
    [started] = await schedules.tick()  # the streak ends
    await engine(started)

    set_columns(Schedule, schedule_id, next_fire_at=utcnow() - timedelta(seconds=1))
    _running_run(team, agent.id)
    assert await schedules.tick() == []
    assert len(_notes("schedule_skipped")) == 6


# ---------------------------------------------------------------- document failed to index


async def test_a_document_that_fails_to_index_notifies_its_uploader(team: Team, ingested) -> None:  # type: ignore[no-untyped-def]
    collection = knowledge.create_collection(ctx=team.admin, data={"name": "Handbook"}).id
    outcome = await knowledge.upload_item(
        ctx=team.member,
        collection_id=collection,
        filename="secret.pdf",
        source=io.BytesIO(make_encrypted_pdf(["Top secret"])),
    )
    item = await ingested(outcome.item.id)

    assert item.status == "failed"
    [note] = _notes()
    assert (note.kind, note.user_id) == ("document_failed", team.member.user_id)
    assert note.title == "secret.pdf failed to index"
    assert note.body == item.error and note.link == f"/knowledge/items/{item.id}"


# ---------------------------------------------------------------- invitation accepted


async def test_an_accepted_invitation_notifies_the_inviter(team: Team) -> None:
    result = invitations.invite_member(ctx=team.admin, email="joiner@example.com", role="member")
    token = result.invitation.link.rsplit("/", 1)[1]
    joiner = make_user(name="Jo Iner", email="joiner@example.com")

    async with live.subscribe(team.admin.user_id, team.workspace_id) as bell:
        invitations.accept_invitation(user_id=joiner.id, token=token)
        assert await bell.wait(5.0) is True  # announced from the synchronous service

    [note] = _notes()
    assert (note.kind, note.user_id, note.link) == ("invite_accepted", team.admin.user_id, "/team")
    assert note.title == "Jo Iner accepted your invitation"


# ---------------------------------------------------------------- webhook endpoint disabled


async def test_a_disabled_webhook_endpoint_notifies_owners_and_admins(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1:9 is an allowed private host that refuses every connection (tests/conftest.py).
    target = webhooks.create_webhook_endpoint(
        ctx=team.admin, url="http://127.0.0.1:9/hook", description="Ops", events=list(webhooks.EVENT_TYPES)
    )
    set_columns(WebhookEndpoint, target.id, consecutive_failures=delivery.DISABLE_AFTER - 1)
    with session_scope() as session:
        [delivery_id] = record_event(
            session,
            workspace_id=team.workspace_id,
            event_type="run.succeeded",
            data={},
            endpoint_id=target.id,
        )
    with session_scope() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        late = row.created_at + timedelta(hours=24)
    set_columns(WebhookDelivery, delivery_id, next_attempt_at=late)
    monkeypatch.setattr(delivery, "utcnow", lambda: late)

    assert await delivery.deliver(delivery_id) == "failed"

    notes = _notes()
    assert sorted(n.user_id for n in notes) == sorted([team.owner.user_id, team.admin.user_id])
    assert {(n.kind, n.title, n.link) for n in notes} == {
        ("webhook_disabled", "Webhook endpoint disabled", "/settings")
    }
    assert (
        "127.0.0.1:9" in notes[0].body
        and "(Ops)" in notes[0].body
        and "Disabled automatically" in notes[0].body
    )
