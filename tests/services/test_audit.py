"""The audit log: newest first, who did it, paged with ``limit`` and ``before``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, utcnow
from galaxyco_ui.services import audit
from tests.factories import make_agent, set_columns


def test_audit_events_are_listed_newest_first_with_the_actors_name(team):
    first = make_agent(team.member, name="First")
    second = make_agent(team.admin, name="Second")
    events = audit.list_audit_events(ctx=team.owner)
    assert [e.target_id for e in events] == [second.id, first.id]
    assert [e.actor_name for e in events] == [second.created_by_name, first.created_by_name]
    assert events[0].summary == "Created agent “Second”"


def test_audit_events_page_with_limit_and_before(team):
    agents = [make_agent(team.member, name=f"A{i}") for i in range(5)]
    now = utcnow()
    for age, agent in enumerate(reversed(agents)):  # A4 newest, A0 oldest
        event_id = next(e.id for e in audit.list_audit_events(ctx=team.owner) if e.target_id == agent.id)
        set_columns(AuditEvent, event_id, created_at=now - timedelta(minutes=age))
    page = audit.list_audit_events(ctx=team.owner, limit=2)
    assert [e.target_id for e in page] == [agents[4].id, agents[3].id]
    rest = audit.list_audit_events(ctx=team.owner, limit=10, before=page[-1].created_at)
    assert [e.target_id for e in rest] == [agents[2].id, agents[1].id, agents[0].id]


def test_the_ip_of_the_actor_is_kept_with_the_event(team):
    created = make_agent(replace(team.member, ip="192.0.2.10"))
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.target_id == created.id)).one()
    assert event.meta == {"ip": "192.0.2.10"}
