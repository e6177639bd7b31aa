"""notifications.record / announce: who is told, preferences, emails, the live push."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import select

from galaxyco_ui import notifications
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Notification, NotificationPref, Run, User, utcnow
from galaxyco_ui.notifications import live
from tests.factories import Team, make_user, set_columns
from tests.smtp_server import Inbox


def _record(team: Team, **kwargs: object) -> notifications.Announcement:
    with session_scope() as session:
        return notifications.record(
            session,
            workspace_id=team.workspace_id,
            kind=str(kwargs.pop("kind", "schedule_failed")),
            title=str(kwargs.pop("title", "Nightly report failed")),
            **kwargs,  # type: ignore[arg-type]  # the keyword arguments under test
        )


def _rows(user_id: str | None = None) -> list[Notification]:
    with session_scope() as session:
        query = select(Notification)
        if user_id:
            query = query.where(Notification.user_id == user_id)
        return list(session.exec(query).all())


def test_roles_and_users_are_notified_once_each(team: Team, other_team: Team) -> None:
    note = _record(team, roles=["owner", "admin"], user_ids=[team.owner.user_id, team.member.user_id])

    assert sorted(note.in_app) == sorted([team.owner.user_id, team.admin.user_id, team.member.user_id])
    rows = _rows()
    assert sorted(r.user_id for r in rows) == sorted(note.in_app)
    assert {r.workspace_id for r in rows} == {team.workspace_id}
    assert not _rows(other_team.owner.user_id)


def test_people_outside_the_workspace_and_deleted_accounts_get_nothing(team: Team, other_team: Team) -> None:
    stranger = make_user()
    set_columns(User, team.admin.user_id, deleted_at=utcnow())

    note = _record(team, roles=["admin"], user_ids=[stranger.id, other_team.owner.user_id, "", "x" * 40])

    assert note.in_app == () and note.email == ()
    assert not note
    assert _rows() == []


def test_defaults_show_every_kind_and_mail_the_urgent_ones(team: Team) -> None:
    failed = _record(team, kind="schedule_failed", user_ids=[team.member.user_id])
    skipped = _record(team, kind="schedule_skipped", user_ids=[team.member.user_id])

    assert failed.in_app == failed.email == (team.member.user_id,)
    assert skipped.in_app == (team.member.user_id,) and skipped.email == ()


def test_preferences_decide_per_member(team: Team) -> None:
    with session_scope() as session:
        session.add(
            NotificationPref(user_id=team.owner.user_id, kind="invite_accepted", in_app=False, email=True)
        )
        session.add(
            NotificationPref(user_id=team.admin.user_id, kind="invite_accepted", in_app=False, email=False)
        )
        # A preference for another kind changes nothing here.
        session.add(
            NotificationPref(user_id=team.member.user_id, kind="budget_80", in_app=False, email=False)
        )

    note = _record(team, kind="invite_accepted", roles=["owner", "admin", "member"])

    assert note.in_app == (team.member.user_id,)
    assert note.email == (team.owner.user_id,)
    assert [r.user_id for r in _rows()] == [team.member.user_id]


def test_text_is_bounded_and_links_stay_inside_the_app(team: Team) -> None:
    for link in ("https://evil.example/x", "//evil.example", "javascript:alert(1)", "/a\\b", "/runs/\n1"):
        note = _record(team, user_ids=[team.owner.user_id], link=link)
        assert note.link == ""
    note = _record(team, user_ids=[team.owner.user_id], title="A\nvery " + "long " * 100, body="b" * 5000)
    assert len(note.title) == 200 and "\n" not in note.title
    assert len(note.body) == 2000
    assert _record(team, user_ids=[team.owner.user_id], link="/runs/abc").link == "/runs/abc"


def test_an_unknown_kind_is_a_programming_error(team: Team) -> None:
    with pytest.raises(ValueError):
        _record(team, kind="lottery_won", user_ids=[team.owner.user_id])


def test_rows_roll_back_with_the_causing_transaction(team: Team) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        notifications.record(
            session, workspace_id=team.workspace_id, kind="schedule_failed", title="x", roles=["owner"]
        )
        raise RuntimeError("the run's own update failed")
    assert _rows() == []


async def test_announce_mails_those_who_chose_email(
    team: Team, inbox: Inbox, engine: Callable[[str], Awaitable[Run]]
) -> None:
    with session_scope() as session:
        session.add(
            NotificationPref(user_id=team.admin.user_id, kind="schedule_failed", in_app=True, email=False)
        )
        owner_email = session.get(User, team.owner.user_id).email  # type: ignore[union-attr]
    note = _record(
        team,
        title="Scheduled run of Reporter failed",
        body="The provider answered 500.",
        link="/runs/r1",
        roles=["owner", "admin"],
    )

    await notifications.announce(note)
    for _ in range(200):
        if inbox.messages:
            break
        await asyncio.sleep(0.025)
    await asyncio.sleep(0.1)  # nothing else arrives

    assert [to for to, _ in inbox.messages] == [[owner_email]]
    message = inbox.messages[0][1]
    assert "Scheduled run of Reporter failed" in message["Subject"]
    text = message.get_content()
    assert "The provider answered 500." in text
    assert "http://localhost:3000/runs/r1" in text
    assert message.get_content_type() == "text/plain"


async def test_an_email_preference_turned_off_before_sending_is_honoured(
    team: Team, inbox: Inbox, engine: Callable[[str], Awaitable[Run]]
) -> None:
    from galaxyco_ui.notifications.mail import send_notification_email_job

    note = _record(team, roles=["owner"])
    with session_scope() as session:
        session.add(
            NotificationPref(user_id=team.owner.user_id, kind="schedule_failed", in_app=True, email=False)
        )

    sent = await send_notification_email_job(
        user_id=note.email[0], workspace_id=team.workspace_id, kind=note.kind, title=note.title
    )
    assert sent is False and inbox.messages == []


async def test_announce_wakes_only_the_bells_of_recipients(team: Team, other_team: Team) -> None:
    async with (
        live.subscribe(team.member.user_id, team.workspace_id) as member_bell,
        live.subscribe(team.viewer.user_id, team.workspace_id) as viewer_bell,
        live.subscribe(team.member.user_id, other_team.workspace_id) as elsewhere,
    ):
        assert live.subscriber_count() == 3
        note = _record(team, user_ids=[team.member.user_id])
        await notifications.announce(note)

        assert await member_bell.wait(5.0) is True
        assert await viewer_bell.wait(0.3) is False
        assert await elsewhere.wait(0.1) is False
        assert await member_bell.wait(0.1) is False  # consumed
    assert live.subscriber_count() == 0
