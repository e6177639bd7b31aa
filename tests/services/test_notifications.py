"""services/notifications: the member's own list, count, read marks and preferences."""

from __future__ import annotations

from datetime import timedelta

import pytest

from galaxyco_ui import notifications as notify
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Notification, utcnow
from galaxyco_ui.services import notifications
from tests.factories import Team, add_member


def _notify(workspace_id: str, user_id: str, title: str = "Something happened", **extra: object) -> None:
    with session_scope() as session:
        notify.record(
            session,
            workspace_id=workspace_id,
            kind=str(extra.pop("kind", "invite_accepted")),
            title=title,
            user_ids=[user_id],
            **extra,  # type: ignore[arg-type]  # body, link
        )


def _ids(page: notifications.NotificationPage) -> list[str]:
    return [n.title for n in page.items]


def test_the_list_is_the_members_own_in_this_workspace_newest_first(team: Team, other_team: Team) -> None:
    for n in range(3):
        _notify(team.workspace_id, team.member.user_id, f"Mine {n}")
    _notify(team.workspace_id, team.admin.user_id, "The admin's")
    _notify(other_team.workspace_id, other_team.member.user_id, "Foreign")
    # The same person in another workspace: not shown in this one.
    elsewhere = add_member(other_team.workspace_id, "member", user=None)  # type: ignore[arg-type]
    _notify(other_team.workspace_id, elsewhere.user_id, "Elsewhere")

    page = notifications.list_notifications(ctx=team.member)

    assert _ids(page) == ["Mine 2", "Mine 1", "Mine 0"]
    assert page.unread == 3 == notifications.unread_count(ctx=team.member)
    assert notifications.unread_count(ctx=team.viewer) == 0


def test_pages_follow_the_cursor(team: Team) -> None:
    with session_scope() as session:
        now = utcnow()
        for n in range(5):
            session.add(
                Notification(
                    workspace_id=team.workspace_id,
                    user_id=team.owner.user_id,
                    kind="budget_80",
                    title=f"N{n}",
                    created_at=now - timedelta(minutes=n),
                )
            )
    first = notifications.list_notifications(ctx=team.owner, limit=2)
    second = notifications.list_notifications(ctx=team.owner, cursor=first.next_cursor, limit=2)
    third = notifications.list_notifications(ctx=team.owner, cursor=second.next_cursor, limit=2)
    assert (_ids(first), _ids(second), _ids(third)) == (["N0", "N1"], ["N2", "N3"], ["N4"])
    assert third.next_cursor == ""
    with pytest.raises(ValidationError):
        notifications.list_notifications(ctx=team.owner, cursor="not|a cursor")


def test_mark_read_and_mark_all_read(team: Team) -> None:
    for n in range(3):
        _notify(team.workspace_id, team.member.user_id, f"N{n}")
    first = notifications.list_notifications(ctx=team.member).items[0]

    assert notifications.mark_read(ctx=team.member, notification_id=first.id).read is True
    assert notifications.mark_read(ctx=team.member, notification_id=first.id).read is True  # idempotent
    assert notifications.unread_count(ctx=team.member) == 2
    assert notifications.mark_all_read(ctx=team.member) == 2
    assert notifications.unread_count(ctx=team.member) == 0
    assert all(n.read for n in notifications.list_notifications(ctx=team.member).items)


@pytest.mark.parametrize("bad", ["", "nope", "x" * 500, "\x00", "a" * 32])
def test_hostile_ids_are_not_found(team: Team, bad: str) -> None:
    with pytest.raises(NotFoundError):
        notifications.mark_read(ctx=team.member, notification_id=bad)


def test_someone_elses_notification_is_not_found_and_stays_unread(team: Team, other_team: Team) -> None:
    _notify(team.workspace_id, team.admin.user_id, "The admin's")
    _notify(other_team.workspace_id, other_team.owner.user_id, "Foreign")
    admins = notifications.list_notifications(ctx=team.admin).items[0]
    foreign = notifications.list_notifications(ctx=other_team.owner).items[0]

    for target in (admins.id, foreign.id):
        with pytest.raises(NotFoundError):
            notifications.mark_read(ctx=team.member, notification_id=target)
    assert notifications.mark_all_read(ctx=team.member) == 0
    assert notifications.unread_count(ctx=team.admin) == 1
    assert notifications.unread_count(ctx=other_team.owner) == 1


def test_preferences_start_from_the_defaults_and_persist(team: Team) -> None:
    user = team.member.user_id
    defaults = {p.kind: (p.in_app, p.email) for p in notifications.get_preferences(user_id=user)}
    assert defaults["schedule_failed"] == (True, True)
    assert defaults["schedule_skipped"] == (True, False)
    assert all(in_app for in_app, _ in defaults.values())

    changed = notifications.set_preference(
        user_id=user, kind="schedule_skipped", channel="email", enabled=True
    )
    assert (changed.in_app, changed.email) == (True, True)
    notifications.set_preference(user_id=user, kind="schedule_failed", channel="in_app", enabled=False)

    after = {p.kind: (p.in_app, p.email) for p in notifications.get_preferences(user_id=user)}
    assert after["schedule_skipped"] == (True, True)
    assert after["schedule_failed"] == (False, True)
    # Another user's preferences are untouched.
    assert {
        p.kind: (p.in_app, p.email) for p in notifications.get_preferences(user_id=team.admin.user_id)
    } == defaults


@pytest.mark.parametrize(
    ("kind", "channel", "enabled"),
    [("lottery", "email", True), ("budget_80", "sms", True), ("budget_80", "email", "yes")],
)
def test_preference_input_is_checked(team: Team, kind: str, channel: str, enabled: object) -> None:
    with pytest.raises(ValidationError):
        notifications.set_preference(
            user_id=team.member.user_id,
            kind=kind,
            channel=channel,
            enabled=enabled,  # type: ignore[arg-type]  # hostile input
        )
