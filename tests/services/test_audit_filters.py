"""The audit log page's service: filters by actor, API key, action and period that page
together, owner-only IP addresses (in views and files), and the CSV export (capped,
formula cells defused, itself audited). Every filter value is hostile."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.errors import PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, WorkspaceMember, utcnow
from galaxyco_ui.services import api_keys, audit, workspaces
from tests.factories import Team, add_member, make_agent, make_team, make_user, set_columns


def _age(ctx_events: list[str], *, minutes: list[int]) -> None:
    """Move each event ``minutes[i]`` minutes into the past (a distinct instant each)."""
    now = utcnow()
    for event_id, age in zip(ctx_events, minutes, strict=True):
        set_columns(AuditEvent, event_id, created_at=now - timedelta(minutes=age))


def _event_of(team: Team, target_id: str, action: str) -> str:
    with session_scope() as session:
        return session.exec(
            select(AuditEvent.id).where(
                AuditEvent.workspace_id == team.workspace_id,
                AuditEvent.target_id == target_id,
                AuditEvent.action == action,
            )
        ).one()


def _all_pages(team: Team, *, limit: int, **filters: object) -> list[str]:
    ids: list[str] = []
    cursor = ""
    while True:
        page = audit.list_audit_events(ctx=team.owner, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        ids += [e.id for e in page.events]
        if not page.next_cursor:
            return ids
        cursor = page.next_cursor


def _rows(export: audit.AuditExport) -> list[list[str]]:
    return list(csv.reader(io.StringIO(export.content)))


def test_actor_action_and_period_filters_page_together_newest_first(team):
    admins = [make_agent(team.admin, name=f"Admin {i}") for i in range(5)]
    members = [make_agent(team.member, name=f"Member {i}") for i in range(2)]
    workspaces.rename_workspace(ctx=team.admin, name="Acme Renamed")
    admin_events = [_event_of(team, a.id, "agent.created") for a in admins]
    _age(admin_events, minutes=[50 * 60, 40, 30, 20, 10])  # the first is two days old
    _age([_event_of(team, m.id, "agent.created") for m in members], minutes=[15, 5])

    listed = _all_pages(
        team, limit=2, actor_id=team.admin.user_id, action="agent.*", since=utcnow() - timedelta(hours=24)
    )

    assert listed == list(reversed(admin_events[1:]))  # 4 events over 2 pages, newest first
    renamed = audit.list_audit_events(ctx=team.owner, actor_id=team.admin.user_id, action="workspace.renamed")
    assert [e.summary for e in renamed.events] == ["Renamed workspace “Acme” to “Acme Renamed”"]
    old = audit.list_audit_events(
        ctx=team.owner, action="agent.created", until=utcnow() - timedelta(hours=24)
    ).events
    assert [e.id for e in old] == [admin_events[0]]


def test_an_area_filter_matches_its_own_area_only(team):
    agent = make_agent(team.admin, name="Hooked")
    with session_scope() as session:
        for action in ("agent_hook.enabled", "agentx.created", "api_key.created", "apixkey.created"):
            session.add(AuditEvent(workspace_id=team.workspace_id, action=action, target_id=agent.id))

    def actions(filter_: str) -> set[str]:
        return {e.action for e in audit.list_audit_events(ctx=team.owner, action=filter_).events}

    assert actions("agent.*") == {"agent.created"}
    assert actions("agent_hook.*") == {"agent_hook.enabled"}
    assert actions("api_key.*") == {"api_key.created"}  # "_" is a letter here, not a LIKE wildcard


def test_events_done_through_an_api_key_name_the_key_and_filter_by_it(team):
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Nightly sync", role="member")
    key_ctx = api_keys.authenticate_api_key(secret)
    by_key = make_agent(key_ctx, name="From the API")
    by_hand = make_agent(team.admin, name="By hand")

    through_key = audit.list_audit_events(ctx=team.owner, api_key_id=key_ctx.api_key_id or "").events
    assert [e.target_id for e in through_key] == [by_key.id]
    assert through_key[0].api_key_name == "Nightly sync"
    assert through_key[0].actor_name == by_key.created_by_name  # the key's creator acted
    by_admin = audit.list_audit_events(ctx=team.owner, actor_id=team.admin.user_id, action="agent.created")
    assert {e.target_id for e in by_admin.events} == {by_key.id, by_hand.id}
    assert next(e for e in by_admin.events if e.target_id == by_hand.id).api_key_name == ""


def test_the_filter_options_list_people_keys_and_the_actions_present_by_area(team):
    former = add_member(team.workspace_id, Role.MEMBER)
    make_agent(former, name="Left behind")
    with session_scope() as session:  # the member leaves; their events stay
        row = session.exec(select(WorkspaceMember).where(WorkspaceMember.user_id == former.user_id)).one()
        session.delete(row)
    api_keys.create_api_key(ctx=team.admin, name="CI", role="viewer")
    foreign = make_team("Foreign Corp")
    make_agent(foreign.owner, name="Theirs")
    api_keys.create_api_key(ctx=foreign.owner, name="Their key", role="viewer")

    options = audit.list_audit_filter_options(ctx=team.admin)

    people = {a.id for a in options.actors if a.kind == "user"}
    assert people == {
        team.owner.user_id,
        team.admin.user_id,
        team.member.user_id,
        team.viewer.user_id,
        former.user_id,
    }
    assert [a.label.split(" (")[0] for a in options.actors if a.kind == "api_key"] == ["API key “CI”"]
    groups = {g.prefix: g.actions for g in options.action_groups}
    assert groups == {"agent": ["agent.created"], "api_key": ["api_key.created"]}


def test_ip_addresses_are_shown_to_owners_only_in_the_views_and_the_file(team):
    make_agent(replace(team.member, ip="192.0.2.10"), name="From somewhere")

    owner_view = audit.list_audit_events(ctx=team.owner).events[0]
    admin_view = audit.list_audit_events(ctx=team.admin).events[0]
    assert owner_view.ip == "192.0.2.10"
    assert admin_view.ip == "" and "192.0.2.10" not in admin_view.model_dump_json()

    owner_file = audit.export_audit_csv(ctx=team.owner, action="agent.created")
    admin_file = audit.export_audit_csv(ctx=team.admin, action="agent.created")
    assert _rows(owner_file)[0][-1] == "IP address" and _rows(owner_file)[1][-1] == "192.0.2.10"
    assert "IP address" not in _rows(admin_file)[0]
    assert "192.0.2.10" not in admin_file.content


def test_the_csv_holds_every_filtered_event_and_defuses_formula_cells(team):
    for i, name in enumerate(['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tTab"]):
        user = make_user(name=name, email=f"formula{i}@example.com", personal=False)
        make_agent(add_member(team.workspace_id, Role.ADMIN, user=user), name=f"Agent {i}")
    make_agent(team.member, name="Not an admin's")
    workspaces.rename_workspace(ctx=team.owner, name="Acme & Co")

    export = audit.export_audit_csv(ctx=team.admin, action="agent.created")

    rows = _rows(export)
    assert rows[0] == [
        "When (UTC)",
        "Actor",
        "API key",
        "Action",
        "What happened",
        "Target type",
        "Target id",
    ]
    assert export.rows == len(rows) - 1 == 6 and not export.capped
    actors = [r[1] for r in rows[1:]]
    assert actors[1:] == ["'\tTab", "'@SUM(A1)", "'-2", "'+1+1", '\'=HYPERLINK("http://evil")']
    assert all(r[3] == "agent.created" for r in rows[1:])
    assert export.filename == f"galaxyco-audit-acme-co-{datetime.now(UTC):%Y-%m-%d}.csv"


def test_a_capped_export_says_so_and_holds_the_newest_events(team):
    agents = [make_agent(team.admin, name=f"A{i}") for i in range(5)]
    _age([_event_of(team, a.id, "agent.created") for a in agents], minutes=[5, 4, 3, 2, 1])

    capped = audit.export_audit_csv(ctx=team.owner, action="agent.created", max_rows=3)
    whole = audit.export_audit_csv(ctx=team.owner, action="agent.created", max_rows=5)

    assert (capped.rows, capped.capped) == (3, True)
    assert [r[6] for r in _rows(capped)[1:]] == [agents[4].id, agents[3].id, agents[2].id]
    assert (whole.rows, whole.capped) == (5, False)


def test_an_export_is_itself_in_the_log_with_its_filters(team):
    make_agent(team.admin)
    audit.export_audit_csv(ctx=team.admin, action="agent.*", actor_id="\x00")

    event = audit.list_audit_events(ctx=team.owner, action="audit.exported").events[0]
    assert event.actor_name != "System" and event.summary == "Exported 0 audit events as CSV"
    with session_scope() as session:
        data = session.exec(select(AuditEvent.data).where(AuditEvent.id == event.id)).one()
    assert data["filters"]["action"] == "agent.*" and data["filters"]["actor_id"] == ""


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_read_filter_or_export_the_log(team, role):
    ctx = team.ctx(role)
    for call in (
        lambda: audit.list_audit_events(ctx=ctx, action="agent.*"),
        lambda: audit.list_audit_filter_options(ctx=ctx),
        lambda: audit.export_audit_csv(ctx=ctx),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    with session_scope() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "audit.exported")).all() == []


def test_an_actor_or_key_of_another_workspace_matches_no_event(team):
    foreign = make_team("Foreign Corp")
    make_agent(foreign.owner)
    _, secret = api_keys.create_api_key(ctx=foreign.owner, name="Theirs", role="admin")
    foreign_key = api_keys.authenticate_api_key(secret)
    make_agent(foreign_key)
    make_agent(team.owner)

    assert audit.list_audit_events(ctx=team.owner, actor_id=foreign.owner.user_id).events == []
    assert audit.list_audit_events(ctx=team.owner, api_key_id=foreign_key.api_key_id or "").events == []
    assert audit.export_audit_csv(ctx=team.owner, actor_id=foreign.owner.user_id).rows == 0


@pytest.mark.parametrize("actor_id", ["\x00", "x" * 10_000, "\ud800", 42, ["a"], "' OR 1=1 --"])
def test_a_hostile_actor_or_key_id_matches_nothing_without_an_error(team, actor_id):
    make_agent(team.owner)
    assert audit.list_audit_events(ctx=team.owner, actor_id=actor_id).events == []
    assert audit.list_audit_events(ctx=team.owner, api_key_id=actor_id).events == []


@pytest.mark.parametrize(
    "action",
    [
        "agent.%",
        "agent.*.created",
        "*",
        "%",
        "AGENT.created",
        "agent.created'--",
        "a" * 70,
        "a\x00b",
        "agent..x",
        7,
        ["x"],
    ],
)
def test_an_action_that_is_not_an_action_name_is_refused(team, action):
    with pytest.raises(ValidationError) as caught:
        audit.list_audit_events(ctx=team.owner, action=action)
    assert set(caught.value.field_errors) == {"action"}
    with pytest.raises(ValidationError):
        audit.export_audit_csv(ctx=team.owner, action=action)


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "since"),
        (None, 1700000000, "until"),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "until"),
    ],
)
def test_a_period_that_is_not_one_is_refused_on_its_field(team, since, until, field):
    with pytest.raises(ValidationError) as caught:
        audit.list_audit_events(ctx=team.owner, since=since, until=until)
    assert set(caught.value.field_errors) == {field}


def test_a_naive_period_is_taken_as_utc(team):
    agent = make_agent(team.owner)
    event_id = _event_of(team, agent.id, "agent.created")
    set_columns(AuditEvent, event_id, created_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    inside = audit.list_audit_events(
        ctx=team.owner, since=datetime(2026, 3, 1, 11), until=datetime(2026, 3, 1, 13)
    )
    outside = audit.list_audit_events(ctx=team.owner, since=datetime(2026, 3, 1, 12, 30))
    assert [e.id for e in inside.events] == [event_id]
    assert event_id not in [e.id for e in outside.events]
