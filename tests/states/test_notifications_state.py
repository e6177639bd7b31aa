"""The bell's state: the count follows announcements live, one loop per tab, and the
list opens, marks read and navigates; preferences are the caller's own."""

from __future__ import annotations

import asyncio

from galaxyco_ui import notifications
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User
from galaxyco_ui.services import notifications as notifications_service
from galaxyco_ui.states.notifications import NotificationPrefsState, NotificationsState
from tests.factories import SignedIn, Team, make_team, sign_in_as
from tests.states.harness import Browser, Hub


def _signed_in(user_id: str) -> SignedIn:
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        return sign_in_as(user)


async def _notify(team: Team, user_id: str, title: str, link: str = "") -> None:
    with session_scope() as session:
        note = notifications.record(
            session,
            workspace_id=team.workspace_id,
            kind="invite_accepted",
            title=title,
            link=link,
            user_ids=[user_id],
        )
    await notifications.announce(note)


async def _unread_becomes(browser: Browser, expected: int, timeout: float = 5.0) -> int:
    for _ in range(int(timeout / 0.05)):
        unread = (await browser.state(NotificationsState)).unread
        if unread == expected:
            return unread
        await asyncio.sleep(0.05)
    return (await browser.state(NotificationsState)).unread


def _watches(browser: Browser) -> list[str]:
    return [name for name in browser.running() if name.endswith(".watch")]


async def test_the_bell_counts_live_and_opens_what_it_lists(hub: Hub) -> None:
    team = make_team()
    tab = hub.browser(session_token=_signed_in(team.member.user_id).token).at("/agents")
    await tab.send(NotificationsState.start)
    assert (await tab.state(NotificationsState)).unread == 0
    assert len(_watches(tab)) == 1

    await _notify(team, team.member.user_id, "Jo accepted your invitation", link="/team")
    assert await _unread_becomes(tab, 1) == 1
    await _notify(team, team.owner.user_id, "Not for the member")
    await asyncio.sleep(0.3)
    assert (await tab.state(NotificationsState)).unread == 1

    # A page change mounts the bell again: the tab still runs one loop.
    tab.at("/runs")
    await tab.send(NotificationsState.start)
    for _ in range(60):
        if len(_watches(tab)) == 1:
            break
        await asyncio.sleep(0.05)
    assert len(_watches(tab)) == 1

    await tab.send(NotificationsState.set_open, is_open=True)
    state = await tab.state(NotificationsState)
    assert [n.title for n in state.items] == ["Jo accepted your invitation"]
    updates = await tab.send(NotificationsState.open_item, notification_id=state.items[0].id)
    assert "/team" in str(updates)  # the redirect
    state = await tab.state(NotificationsState)
    assert state.unread == 0 and state.items[0].read

    await _notify(team, team.member.user_id, "Another one")
    assert await _unread_becomes(tab, 1) == 1
    await tab.send(NotificationsState.mark_all_read)
    assert (await tab.state(NotificationsState)).unread == 0
    assert notifications_service.unread_count(ctx=team.member) == 0

    assert await tab.disconnect() == []


async def test_preferences_are_the_callers_own(hub: Hub) -> None:
    team = make_team()
    tab = hub.browser(session_token=_signed_in(team.admin.user_id).token).at("/profile")
    await tab.send(NotificationPrefsState.load)
    await tab.send(NotificationPrefsState.set_pref, kind="document_failed", channel="email", enabled=True)

    prefs = {p.kind: p for p in (await tab.state(NotificationPrefsState)).prefs}
    assert prefs["document_failed"].email is True
    stored = {p.kind: p.email for p in notifications_service.get_preferences(user_id=team.admin.user_id)}
    assert stored["document_failed"] is True
    others = {p.kind: p.email for p in notifications_service.get_preferences(user_id=team.owner.user_id)}
    assert others["document_failed"] is False
    assert await tab.disconnect() == []
