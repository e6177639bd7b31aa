"""The bell: a scheduled run fails while the owner is on a page, and the bell's count and
list show it without a reload; opening it goes to the run; preferences persist."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role, TenantContext
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import NotificationPref, Run, Schedule, User, WorkspaceMember, utcnow
from galaxyco_ui.services import schedules
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_up, wait_for_shell
from tests.factories import make_agent, set_columns

EMAIL = "grace.notifications@example.com"  # no other browser test signs up with it


def _owner() -> TenantContext:
    with session_scope() as session:
        user_id, workspace_id = session.exec(
            select(User.id, WorkspaceMember.workspace_id)
            .join(WorkspaceMember, WorkspaceMember.user_id == User.id)  # type: ignore[arg-type]  # column comparison
            .where(User.email == EMAIL)
        ).one()
    return TenantContext(user_id=user_id, workspace_id=workspace_id, role=Role.OWNER)


def test_a_failed_scheduled_run_rings_the_bell_live(new_context) -> None:  # type: ignore[no-untyped-def]
    page = new_context().new_page()
    sign_up(page, name="Grace Hopper", email=EMAIL)
    wait_for_shell(page)
    bell = page.locator("#notification-bell")
    expect(bell).to_have_attribute("aria-label", "Notifications, 0 unread")

    # An agent whose provider has no key: its scheduled run fails at once. The server's
    # scheduler (in the app, or in the worker with Redis) fires the due slot.
    owner = _owner()
    agent = make_agent(owner, name="Nightly digest", provider="openai", tools=[])
    schedule = schedules.create_schedule(
        ctx=owner, agent_id=agent.id, cron="0 3 * * *", timezone="UTC", input="Summarise the day"
    )
    set_columns(Schedule, schedule.id, next_fire_at=utcnow() - timedelta(minutes=1))

    # No reload: the count and the badge change by themselves.
    expect(bell).to_have_attribute("aria-label", "Notifications, 1 unread", timeout=30_000)
    expect(page.locator("#notification-badge")).to_have_text("1")
    with session_scope() as session:
        run_id = session.exec(select(Run.id).where(Run.schedule_id == schedule.id)).one()

    bell.click()
    item = page.get_by_role("button", name=re.compile("Scheduled run of Nightly digest failed"))
    expect(item).to_be_visible()
    expect(page.get_by_role("button", name="Mark all as read")).to_be_enabled()
    shot(page, "90-notifications-bell")
    item.click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
    expect(page.locator("#notification-bell")).to_have_attribute("aria-label", "Notifications, 0 unread")
    expect(page.locator("#notification-badge")).to_have_count(0)

    # Preferences: email for skipped slots, on; it is still on after a reload.
    page.goto("/profile")
    email_switch = page.get_by_role("switch", name="Email: Scheduled run skipped")
    expect(email_switch).to_have_attribute("aria-checked", "false")
    email_switch.click()
    expect(email_switch).to_have_attribute("aria-checked", "true")
    page.reload()
    expect(page.get_by_role("switch", name="Email: Scheduled run skipped")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(page.get_by_role("switch", name="In app: Scheduled run failed")).to_have_attribute(
        "aria-checked", "true"
    )
    shot(page, "91-notification-preferences")
    with session_scope() as session:
        pref = session.get(NotificationPref, (owner.user_id, "schedule_skipped"))
        assert pref is not None and pref.email is True and pref.in_app is True
