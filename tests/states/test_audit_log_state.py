"""/settings/audit as the browser drives it: "Older events" and "Newer events" page through
the whole log, each event exactly once, even when many share one instant (issue 9); a
member is told the page is not for them; bad dates are refused under their field; the
CSV download carries the filtered events and, for an admin, no IP address."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, utcnow
from galaxyco_ui.states.audit_log import AUDIT_PAGE, AuditLogState
from tests.factories import add_member, make_agent, make_team, make_user, sign_in_as
from tests.states.harness import Hub


async def test_older_and_newer_events_list_events_of_the_same_instant_exactly_once(hub: Hub):
    signed = sign_in_as(make_user())
    workspace_id = signed.auth.workspace_id
    assert workspace_id is not None
    at = utcnow().replace(microsecond=0)
    with session_scope() as session:  # more than a page, all at the same instant
        events = [
            AuditEvent(
                workspace_id=workspace_id, action="test.same_instant", summary=f"Event {i}", created_at=at
            )
            for i in range(AUDIT_PAGE + 7)
        ]
        session.add_all(events)
        ids = [e.id for e in events]
    owner = hub.browser(session_token=signed.token).at("/settings/audit")

    await owner.send(AuditLogState.load)
    state = await owner.state(AuditLogState)
    first = [e.id for e in state.events]
    assert len(first) == AUDIT_PAGE and state.next_cursor and not state.has_newer
    await owner.send(AuditLogState.older)

    state = await owner.state(AuditLogState)
    second = [e.id for e in state.events if e.action == "test.same_instant"]
    listed = [i for i in first if i in ids] + second
    assert len(listed) == len(set(listed)) == len(ids) and set(listed) == set(ids)
    assert not state.next_cursor and state.has_newer
    await owner.send(AuditLogState.newer)
    assert [e.id for e in (await owner.state(AuditLogState)).events] == first


async def test_a_member_is_told_only_admins_and_owners_read_the_log(hub: Hub):
    team = make_team()
    user = make_user(personal=False)
    add_member(team.workspace_id, Role.MEMBER, user=user)
    make_agent(team.owner, name="Owner's secret agent")
    member = hub.browser(session_token=sign_in_as(user).token).at("/settings/audit")

    await member.send(AuditLogState.load)
    await member.send(AuditLogState.download_csv)

    state = await member.state(AuditLogState)
    assert state.loaded and not state.can_view and state.events == []
    received = "\n".join(member.received())
    assert "Owner's secret agent" not in received and "data:text/csv" not in received


async def test_a_date_that_is_not_one_is_refused_under_its_field(hub: Hub):
    owner = hub.browser(session_token=sign_in_as(make_user()).token).at("/settings/audit")
    await owner.send(AuditLogState.load)
    await owner.send(AuditLogState.apply_filters, form={"since": "31/01/2026", "period": ""})

    assert (await owner.state(AuditLogState)).errors == {"since": "Enter a date, like 2026-01-31."}


async def test_the_csv_download_holds_the_filtered_events_and_no_ip_for_an_admin(hub: Hub):
    team = make_team("Acme")
    user = make_user(personal=False)
    admin_ctx = add_member(team.workspace_id, Role.ADMIN, user=user)
    make_agent(replace(team.owner, ip="198.51.100.23"), name="Wanted")
    make_agent(admin_ctx, name="Also an agent")
    admin = hub.browser(session_token=sign_in_as(user).token).at("/settings/audit")
    await admin.send(AuditLogState.load)
    await admin.send(
        AuditLogState.apply_filters, form={"actor": f"user:{team.owner.user_id}", "action": "agent.*"}
    )
    state = await admin.state(AuditLogState)
    assert [e.summary for e in state.events] == ["Created agent “Wanted”"]
    assert not state.owner_view and state.events[0].ip == ""

    await admin.send(AuditLogState.download_csv)

    sent = "\n".join(admin.received())
    match = re.search(r"data:text/csv;base64,([A-Za-z0-9+/=]+)", sent)
    assert match, "no CSV download was sent"
    content = base64.b64decode(match.group(1)).decode()
    assert "Wanted" in content and "Also an agent" not in content
    assert "198.51.100.23" not in content and "IP address" not in content
    assert re.search(r"galaxyco-audit-acme-\d{4}-\d{2}-\d{2}\.csv", sent)
