"""Agent versions: every save that changes the configuration is a new, immutable version;
history, diff and restore; another workspace's agents and versions stay out of reach."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from galaxyco_ui.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, AgentVersion, AuditEvent
from galaxyco_ui.runs import store
from galaxyco_ui.services import agent_versions, agents
from galaxyco_ui.services.agent_versions import split_pin
from tests.factories import agent_data, edit_agent, insert_agent, make_agent


def _configs(agent_id: str) -> list[dict]:
    with session_scope() as session:
        rows = session.exec(
            select(AgentVersion).where(AgentVersion.agent_id == agent_id).order_by(col(AgentVersion.number))
        ).all()
        return [dict(r.config) for r in rows]


def test_creating_an_agent_records_version_1_with_its_configuration(team):
    agent = make_agent(team.member, instructions="Be brief.", tools=["calculator"])

    assert agent.version == 1
    [config] = _configs(agent.id)
    assert config["instructions"] == "Be brief."
    assert config["tools"] == ["calculator"]
    assert config["approval_tools"] == [] and config["approval_timeout_seconds"] == 3600
    [summary] = agent_versions.list_versions(ctx=team.viewer, agent_id=agent.id)
    assert (summary.number, summary.current, summary.note) == (1, True, "")
    assert summary.created_by_name == agent.created_by_name


def test_each_edit_makes_the_next_version_and_the_old_ones_stay_as_they_were(team):
    agent = make_agent(team.member, instructions="One")
    edit_agent(team.member, agent.id, instructions="Two", model="gpt-4.1")
    updated = edit_agent(team.admin, agent.id, max_steps=3)

    assert updated.version == 3
    configs = _configs(agent.id)
    assert [c["instructions"] for c in configs] == ["One", "Two", "Two"]
    assert [c["model"] for c in configs] == ["gpt-4.1-mini", "gpt-4.1", "gpt-4.1"]
    assert configs[2]["max_steps"] == 3
    listed = agent_versions.list_versions(ctx=team.member, agent_id=agent.id)
    assert [(v.number, v.current) for v in listed] == [(3, True), (2, False), (1, False)]


def test_a_save_that_changes_nothing_a_run_uses_makes_no_new_version(team):
    agent = make_agent(team.member)

    edit_agent(team.member, agent.id)  # the same values
    same = edit_agent(team.member, agent.id, description="Only the description", tags=["other"])

    assert same.version == 1
    assert len(_configs(agent.id)) == 1


def test_duplicate_starts_its_own_history_at_version_1(team):
    agent = make_agent(team.member, name="Original")
    edit_agent(team.member, agent.id, instructions="Changed")

    copy = agents.duplicate_agent(ctx=team.member, agent_id=agent.id)

    assert copy.version == 1
    [summary] = agent_versions.list_versions(ctx=team.member, agent_id=copy.id)
    assert summary.note == "Copy of “Original”"


def test_get_version_returns_its_configuration_without_the_agent_id(team):
    agent = make_agent(team.member, instructions="First")
    edit_agent(team.member, agent.id, instructions="Second")

    first = agent_versions.get_version(ctx=team.viewer, agent_id=agent.id, number=1)

    assert first.config["instructions"] == "First"
    assert "id" not in first.config
    assert first.current is False and first.agent_id == agent.id


def test_diff_lists_every_field_marks_the_changed_ones_and_diffs_instructions_by_line(team):
    agent = make_agent(team.member, instructions="Greet.\nAnswer briefly.\nSign off.")
    edit_agent(team.member, agent.id, instructions="Greet.\nAnswer in detail.\nSign off.", temperature=1.1)

    diff = agent_versions.diff_versions(ctx=team.viewer, agent_id=agent.id, a=1, b=2)

    changed = {f.field: (f.before, f.after) for f in diff.fields if f.changed}
    assert changed == {
        "instructions": ("Greet.\nAnswer briefly.\nSign off.", "Greet.\nAnswer in detail.\nSign off."),
        "temperature": ("0.3", "1.1"),
    }
    assert {f.field for f in diff.fields} == set(agent_versions.FIELDS)
    assert [(line.kind, line.text) for line in diff.instructions] == [
        ("same", "Greet."),
        ("removed", "Answer briefly."),
        ("added", "Answer in detail."),
        ("same", "Sign off."),
    ]


def test_restore_makes_a_new_version_with_the_old_configuration_and_is_audited(team):
    agent = make_agent(team.member, instructions="v1 text", model="gpt-4.1-mini")
    edit_agent(team.member, agent.id, instructions="v2 text")
    edit_agent(team.member, agent.id, instructions="v3 text", model="gpt-4.1", description="Kept")

    restored = agent_versions.restore_version(ctx=team.member, agent_id=agent.id, number=1)

    assert (restored.number, restored.note, restored.current) == (4, "Restored from version 1", True)
    configs = _configs(agent.id)
    assert configs[3] == configs[0]
    now = agents.get_agent(ctx=team.member, agent_id=agent.id)
    assert (now.instructions, now.model, now.version, now.description) == (
        "v1 text",
        "gpt-4.1-mini",
        4,
        "Kept",
    )
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "agent.version_restored")).one()
    assert event.target_id == agent.id and event.data == {"restored": 1, "version": 4}
    assert diff_is_empty(team, agent.id, 1, 4)


def diff_is_empty(team, agent_id: str, a: int, b: int) -> bool:  # type: ignore[no-untyped-def]
    diff = agent_versions.diff_versions(ctx=team.member, agent_id=agent_id, a=a, b=b)
    return not any(f.changed for f in diff.fields)


def test_restoring_the_current_configuration_says_so_and_changes_nothing(team):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        agent_versions.restore_version(ctx=team.member, agent_id=agent.id, number=1)

    assert "already" in caught.value.field_errors["version"]
    assert len(_configs(agent.id)) == 1


def test_restoring_a_name_another_agent_took_since_is_a_conflict(team):
    agent = make_agent(team.member, name="Helper")
    edit_agent(team.member, agent.id, name="Helper 2")
    make_agent(team.member, name="Helper")

    with pytest.raises(ConflictError):
        agent_versions.restore_version(ctx=team.member, agent_id=agent.id, number=1)
    assert agents.get_agent(ctx=team.member, agent_id=agent.id).version == 2


def test_only_those_who_may_edit_the_agent_may_restore_it(team):
    agent = make_agent(team.admin, instructions="A")
    edit_agent(team.admin, agent.id, instructions="B")

    for ctx in (team.member, team.viewer):
        with pytest.raises(PermissionDeniedError):
            agent_versions.restore_version(ctx=ctx, agent_id=agent.id, number=1)
    assert len(_configs(agent.id)) == 2


def test_another_workspaces_agent_and_versions_are_not_found(team, other_team):
    foreign = make_agent(other_team.member, instructions="Secret")
    edit_agent(other_team.member, foreign.id, instructions="Secret 2")

    calls = [
        lambda: agent_versions.list_versions(ctx=team.owner, agent_id=foreign.id),
        lambda: agent_versions.get_version(ctx=team.owner, agent_id=foreign.id, number=1),
        lambda: agent_versions.diff_versions(ctx=team.owner, agent_id=foreign.id, a=1, b=2),
        lambda: agent_versions.restore_version(ctx=team.owner, agent_id=foreign.id, number=1),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
    assert len(_configs(foreign.id)) == 2


@pytest.mark.parametrize("number", [0, -1, 3, 10**12, True])
def test_a_version_the_agent_does_not_have_is_not_found(team, number):
    agent = make_agent(team.member)
    edit_agent(team.member, agent.id, instructions="Two")

    with pytest.raises(NotFoundError):
        agent_versions.get_version(ctx=team.member, agent_id=agent.id, number=number)
    with pytest.raises(NotFoundError):
        agent_versions.diff_versions(ctx=team.member, agent_id=agent.id, a=1, b=number)


def test_an_agent_written_before_versions_gets_version_1_at_its_first_save(team):
    agent_id = insert_agent(team.workspace_id, created_by=team.member.user_id, **agent_data())

    saved = edit_agent(team.member, agent_id, instructions="Now versioned")

    assert saved.version == 1
    assert _configs(agent_id)[0]["instructions"] == "Now versioned"


def test_a_version_keeps_the_snapshot_a_run_records(team):
    agent = make_agent(team.member)
    with session_scope() as session:
        row = session.get(Agent, agent.id)
        assert row is not None
        assert _configs(agent.id)[0] == store.agent_snapshot(row)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Helper@3", ("Helper", 3)),
        ("Helper", ("Helper", None)),
        ("a@b@12", ("a@b", 12)),
        ("Helper@", ("Helper@", None)),
        ("@3", ("@3", None)),
        ("Helper@x3", ("Helper@x3", None)),
    ],
)
def test_split_pin_reads_the_version_after_the_last_at_sign(reference, expected):
    assert split_pin(reference) == expected
