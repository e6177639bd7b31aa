"""Settings → Audit log as the browser drives it: "Load older events" pages through the
whole log, each event exactly once, even when many events share one instant (issue 9)."""

from __future__ import annotations

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, utcnow
from galaxyco_ui.states.settings import AUDIT_PAGE, SettingsState
from tests.factories import make_user, sign_in_as
from tests.states.harness import Hub


async def test_load_older_events_lists_events_of_the_same_instant_exactly_once(hub: Hub):
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
    owner = hub.browser(session_token=signed.token).at("/settings")

    await owner.send(SettingsState.load)
    state = await owner.state(SettingsState)
    assert len(state.events) == AUDIT_PAGE and state.more_events
    await owner.send(SettingsState.load_more)

    state = await owner.state(SettingsState)
    listed = [e.id for e in state.events if e.action == "test.same_instant"]
    assert len(listed) == len(set(listed)) == len(ids)
    assert set(listed) == set(ids)
    assert not state.more_events
