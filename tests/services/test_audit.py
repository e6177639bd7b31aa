"""The audit log: newest first, who did it, paged with ``limit`` and a ``(created_at, id)`` cursor."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, utcnow
from galaxyco_ui.services import audit
from tests.factories import make_agent, make_team, set_columns


def test_audit_events_are_listed_newest_first_with_the_actors_name(team):
    first = make_agent(team.member, name="First")
    second = make_agent(team.admin, name="Second")
    events = audit.list_audit_events(ctx=team.owner).events
    assert [e.target_id for e in events] == [second.id, first.id]
    assert [e.actor_name for e in events] == [second.created_by_name, first.created_by_name]
    assert events[0].summary == "Created agent “Second”"


def test_audit_events_page_with_limit_and_cursor(team):
    agents = [make_agent(team.member, name=f"A{i}") for i in range(5)]
    now = utcnow()
    for age, agent in enumerate(reversed(agents)):  # A4 newest, A0 oldest
        event_id = next(
            e.id for e in audit.list_audit_events(ctx=team.owner).events if e.target_id == agent.id
        )
        set_columns(AuditEvent, event_id, created_at=now - timedelta(minutes=age))
    page = audit.list_audit_events(ctx=team.owner, limit=2)
    assert [e.target_id for e in page.events] == [agents[4].id, agents[3].id]
    rest = audit.list_audit_events(ctx=team.owner, limit=10, cursor=page.next_cursor)
    assert [e.target_id for e in rest.events] == [agents[2].id, agents[1].id, agents[0].id]
    assert rest.next_cursor == ""


def test_audit_events_of_the_same_instant_are_each_paged_exactly_once(team):
    other = make_team("Other")
    at = utcnow().replace(microsecond=0)
    ids = _events_at(team.workspace_id, at, 7) + _events_at(other.workspace_id, at, 3)
    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        page = audit.list_audit_events(ctx=team.owner, limit=3, cursor=cursor)
        seen += [e.id for e in page.events]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert pages == 3  # 3 + 3 + 1
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == set(ids[:7])  # never the other workspace's events of that instant


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "|",
        "2025-06-01T12:00:00|abc",
        "2025-06-01T12:00:00+00:00|",
        "2025-06-01T12:00:00+00:00|a\x00b",
    ],
)
def test_a_cursor_the_service_did_not_make_is_refused_as_invalid(team, cursor):
    with pytest.raises(ValidationError) as caught:
        audit.list_audit_events(ctx=team.owner, cursor=cursor)

    assert set(caught.value.field_errors) == {"cursor"}


def _events_at(workspace_id: str, at: datetime, count: int) -> list[str]:
    """``count`` audit events of ``workspace_id``, all created at the instant ``at``."""
    with session_scope() as session:
        events = [
            AuditEvent(
                workspace_id=workspace_id, action="test.same_instant", summary=f"Event {i}", created_at=at
            )
            for i in range(count)
        ]
        session.add_all(events)
        return [e.id for e in events]


def test_the_ip_of_the_actor_is_kept_with_the_event(team):
    created = make_agent(replace(team.member, ip="192.0.2.10"))
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.target_id == created.id)).one()
    assert event.meta == {"ip": "192.0.2.10"}
