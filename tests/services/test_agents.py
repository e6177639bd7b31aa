"""Agents: create, edit, duplicate, soft-delete, validation, search, sort, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, AuditEvent, utcnow
from galaxyco_ui.services import agents, audit
from tests.factories import agent_data, make_agent, set_columns


def _actions(ctx) -> list[str]:
    return [e.action for e in audit.list_audit_events(ctx=ctx).events]


def _event(action: str, target_id: str) -> AuditEvent:
    with session_scope() as session:
        return session.exec(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target_id == target_id)
        ).one()


# ---------------------------------------------------------------- create


def test_member_creates_an_agent_with_every_field_they_filled_in(team):
    created = agents.create_agent(
        ctx=team.member,
        data=agent_data(
            name="  Support   bot ",
            description="Answers tickets",
            provider="anthropic",
            model="claude-haiku-4-5",
            instructions="Be brief.",
            temperature=0.2,
            max_steps=3,
            max_output_tokens=500,
            tools=["http_request", "calculator", "calculator"],
            tags=["Support"],
        ),
    )
    assert created.name == "Support bot"  # one line: ends trimmed, inner runs of spaces collapsed
    assert (created.provider, created.provider_label, created.model) == (
        "anthropic",
        "Anthropic",
        "claude-haiku-4-5",
    )
    assert (created.temperature, created.max_steps, created.max_output_tokens) == (0.2, 3, 500)
    assert created.tools == ["calculator", "http_request"]
    assert created.tags == ["support"]
    assert created.created_by == team.member.user_id
    assert created.can_edit
    assert agents.get_agent(ctx=team.viewer, agent_id=created.id) == created.model_copy(
        update={"can_edit": False}
    )


def test_creating_an_agent_writes_an_audit_event(team):
    created = make_agent(team.member, name="Audited")
    event = _event("agent.created", created.id)
    assert event.workspace_id == team.workspace_id
    assert event.created_by == team.member.user_id
    assert "Audited" in event.summary


def test_an_agent_name_must_be_unique_in_the_workspace_ignoring_case(team):
    make_agent(team.member, name="Helper")
    with pytest.raises(ConflictError) as exc:
        make_agent(team.admin, name="  HELPER ")
    assert "already exists" in exc.value.field_errors["name"]
    assert [a.name for a in agents.list_agents(ctx=team.owner)] == ["Helper"]


def test_a_deleted_agents_name_can_be_used_again(team):
    first = make_agent(team.member, name="Helper")
    agents.delete_agent(ctx=team.member, agent_id=first.id)
    second = make_agent(team.member, name="helper")
    assert second.id != first.id
    assert [a.name for a in agents.list_agents(ctx=team.owner)] == ["helper"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required."),
        ("name", "   ", "This field is required."),
        ("name", "x" * 81, "Use at most 80 characters."),
        ("model", "", "This field is required."),
        ("model", "m" * 121, "Use at most 120 characters."),
        ("description", "d" * 501, "Use at most 500 characters."),
        ("instructions", "i" * 20_001, "Use at most 20000 characters."),
        ("temperature", 2.5, "Enter a number between 0 and 2."),
        ("temperature", -0.1, "Enter a number between 0 and 2."),
        ("max_steps", 0, "Enter a number between 1 and 50."),
        ("max_steps", 51, "Enter a number between 1 and 50."),
        ("max_steps", "many", "Enter a number."),
        ("max_output_tokens", 15, "Enter a number between 16 and 32000."),
        ("provider", "skynet", "Choose a provider from the list."),
        ("provider", "", "Choose a provider from the list."),
        ("tools", ["calculator", "rm_rf", "launch"], "Unknown tool: launch, rm_rf."),
        ("tags", ["t" * 33], "Keep each tag under 32 characters."),
        ("tags", ",".join(f"tag{i}" for i in range(13)), "Use at most 12 tags."),
    ],
)
def test_invalid_agent_fields_are_refused_with_a_message_on_that_field(team, field, value, message):
    with pytest.raises(ValidationError) as exc:
        agents.create_agent(ctx=team.member, data=agent_data(**{field: value}))
    assert exc.value.field_errors == {field: message}
    assert agents.list_agents(ctx=team.owner) == []


def test_every_invalid_field_gets_its_own_message_at_once(team):
    with pytest.raises(ValidationError) as exc:
        agents.create_agent(ctx=team.member, data=agent_data(name="", model="", provider="nope"))
    assert set(exc.value.field_errors) == {"name", "model", "provider"}


def test_tags_are_parsed_from_a_comma_separated_string(team):
    created = make_agent(team.member, tags=" Support, billing ,support,,  Night   shift ")
    assert created.tags == ["support", "billing", "night shift"]


def test_missing_optional_fields_take_their_defaults(team):
    created = agents.create_agent(
        ctx=team.member, data={"name": "Minimal", "provider": "openai", "model": "gpt-4.1"}
    )
    assert (created.description, created.instructions, created.tools, created.tags) == ("", "", [], [])
    assert (created.temperature, created.max_steps, created.max_output_tokens) == (0.7, 8, 1024)


# ---------------------------------------------------------------- edit


def test_editing_an_agent_saves_the_changes_and_audits_the_changed_fields(team):
    created = make_agent(team.member, name="Draft", temperature=0.3)
    set_columns(Agent, created.id, updated_at=utcnow() - timedelta(minutes=5))
    edited = agents.update_agent(
        ctx=team.member, agent_id=created.id, data=agent_data(name="Final", temperature=0.9, tags="a, b")
    )
    assert (edited.name, edited.temperature, edited.tags) == ("Final", 0.9, ["a", "b"])
    assert edited.updated_at > utcnow() - timedelta(minutes=1)
    assert agents.get_agent(ctx=team.viewer, agent_id=created.id).name == "Final"
    event = _event("agent.updated", created.id)
    assert {"name", "temperature", "tags"} <= set(event.data["fields"])


def test_saving_an_agent_unchanged_writes_no_audit_event(team):
    data = agent_data(name="Same")
    created = agents.create_agent(ctx=team.member, data=data)
    agents.update_agent(ctx=team.member, agent_id=created.id, data=data)
    assert _actions(team.owner) == ["agent.created"]


def test_an_agent_can_be_renamed_to_a_different_case_of_its_own_name(team):
    created = make_agent(team.member, name="helper")
    assert agents.update_agent(ctx=team.member, agent_id=created.id, data=agent_data(name="Helper")).name == (
        "Helper"
    )


def test_renaming_an_agent_to_another_agents_name_is_a_conflict(team):
    make_agent(team.member, name="Taken")
    mine = make_agent(team.member, name="Mine")
    with pytest.raises(ConflictError) as exc:
        agents.update_agent(ctx=team.member, agent_id=mine.id, data=agent_data(name="taken"))
    assert "name" in exc.value.field_errors
    assert agents.get_agent(ctx=team.member, agent_id=mine.id).name == "Mine"


def test_editing_with_invalid_fields_changes_nothing(team):
    created = make_agent(team.member, name="Stable")
    with pytest.raises(ValidationError) as exc:
        agents.update_agent(ctx=team.member, agent_id=created.id, data=agent_data(name="", max_steps=99))
    assert set(exc.value.field_errors) == {"name", "max_steps"}
    assert agents.get_agent(ctx=team.member, agent_id=created.id) == created


def test_editing_an_unknown_agent_is_not_found(team):
    with pytest.raises(NotFoundError):
        agents.update_agent(ctx=team.owner, agent_id="nope", data=agent_data())


# ---------------------------------------------------------------- duplicate


def test_duplicating_an_agent_copies_it_as_copy_then_copy_2(team):
    source = make_agent(team.admin, name="Writer", instructions="Write well.", tools=["calculator"])
    first = agents.duplicate_agent(ctx=team.member, agent_id=source.id)
    second = agents.duplicate_agent(ctx=team.member, agent_id=source.id)
    assert (first.name, second.name) == ("Writer (copy)", "Writer (copy 2)")
    assert first.instructions == "Write well." and first.tools == ["calculator"]
    assert first.created_by == team.member.user_id and first.can_edit
    assert first.id != source.id
    assert _event("agent.duplicated", first.id).data == {"source_id": source.id}


def test_a_copy_name_freed_by_deletion_is_reused(team):
    source = make_agent(team.member, name="Writer")
    first = agents.duplicate_agent(ctx=team.member, agent_id=source.id)
    agents.delete_agent(ctx=team.member, agent_id=first.id)
    assert agents.duplicate_agent(ctx=team.member, agent_id=source.id).name == "Writer (copy)"


@pytest.mark.parametrize("length", [74, 80])
def test_duplicating_an_agent_with_a_long_name_keeps_the_copy_within_80_characters(team, length):
    source = make_agent(team.member, name="n" * length)
    first = agents.duplicate_agent(ctx=team.member, agent_id=source.id)
    second = agents.duplicate_agent(ctx=team.member, agent_id=source.id)
    assert first.name.endswith(" (copy)") and len(first.name) <= 80
    assert second.name.endswith(" (copy 2)") and len(second.name) <= 80


def test_duplicating_a_deleted_agent_is_not_found(team):
    source = make_agent(team.member)
    agents.delete_agent(ctx=team.member, agent_id=source.id)
    with pytest.raises(NotFoundError):
        agents.duplicate_agent(ctx=team.member, agent_id=source.id)


# ---------------------------------------------------------------- delete


def test_deleting_an_agent_hides_it_but_keeps_the_row(team):
    created = make_agent(team.member, name="Temp")
    agents.delete_agent(ctx=team.member, agent_id=created.id)
    with pytest.raises(NotFoundError):
        agents.get_agent(ctx=team.owner, agent_id=created.id)
    assert agents.list_agents(ctx=team.owner) == []
    assert agents.list_agents(ctx=team.owner, search="Temp") == []
    with session_scope() as session:
        row = session.get(Agent, created.id)
        assert row is not None and row.deleted_at is not None
    assert "Temp" in _event("agent.deleted", created.id).summary


def test_deleting_an_agent_twice_is_not_found(team):
    created = make_agent(team.member)
    agents.delete_agent(ctx=team.member, agent_id=created.id)
    with pytest.raises(NotFoundError):
        agents.delete_agent(ctx=team.member, agent_id=created.id)


def test_editing_a_deleted_agent_is_not_found(team):
    created = make_agent(team.member)
    agents.delete_agent(ctx=team.member, agent_id=created.id)
    with pytest.raises(NotFoundError):
        agents.update_agent(ctx=team.member, agent_id=created.id, data=agent_data())


def test_every_change_to_an_agent_is_in_the_audit_log_newest_first(team):
    created = make_agent(team.member, name="Life")
    agents.update_agent(ctx=team.member, agent_id=created.id, data=agent_data(name="Life 2"))
    agents.duplicate_agent(ctx=team.member, agent_id=created.id)
    agents.delete_agent(ctx=team.member, agent_id=created.id)
    assert _actions(team.admin) == ["agent.deleted", "agent.duplicated", "agent.updated", "agent.created"]


# ---------------------------------------------------------------- search and sort


@pytest.fixture
def catalog(team):
    return {
        "alpha": make_agent(team.member, name="Alpha Support", description="Refunds", tags=["billing"]),
        "beta": make_agent(team.member, name="beta writer", description="Writes SUPPORT docs", tags=[]),
        "gamma": make_agent(team.member, name="Gamma", description="Night shift", tags=["oncall", "ops"]),
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("support", {"alpha", "beta"}),  # in a name and in a description, any case
        ("REFUNDS", {"alpha"}),
        ("oncall", {"gamma"}),  # a tag
        ("billing", {"alpha"}),
        ("  gamma  ", {"gamma"}),
        ("", {"alpha", "beta", "gamma"}),
        ("nothing like this", set()),
        ("%", set()),  # LIKE wildcards are matched literally
        ("_", set()),
    ],
)
def test_search_matches_name_description_and_tags(team, catalog, search, expected):
    found = {a.id for a in agents.list_agents(ctx=team.viewer, search=search)}
    assert found == {catalog[key].id for key in expected}


def test_agents_sort_by_name_ignoring_case(team, catalog):
    names = [a.name for a in agents.list_agents(ctx=team.viewer, sort="name")]
    assert names == ["Alpha Support", "beta writer", "Gamma"]


def test_agents_sort_by_creation_newest_first(team, catalog):
    now = utcnow()
    for minutes, key in enumerate(("beta", "gamma", "alpha")):
        set_columns(Agent, catalog[key].id, created_at=now - timedelta(minutes=minutes))
    assert [a.name for a in agents.list_agents(ctx=team.viewer, sort="created")] == [
        "beta writer",
        "Gamma",
        "Alpha Support",
    ]


def test_agents_sort_by_last_update_by_default(team, catalog):
    past = utcnow() - timedelta(hours=1)
    for minutes, key in enumerate(("alpha", "beta", "gamma")):
        set_columns(Agent, catalog[key].id, updated_at=past - timedelta(minutes=minutes))
    agents.update_agent(ctx=team.member, agent_id=catalog["gamma"].id, data=agent_data(name="Gamma"))
    expected = ["Gamma", "Alpha Support", "beta writer"]
    assert [a.name for a in agents.list_agents(ctx=team.viewer)] == expected
    assert [a.name for a in agents.list_agents(ctx=team.viewer, sort="updated")] == expected
    assert [a.name for a in agents.list_agents(ctx=team.viewer, sort="bogus")] == expected  # type: ignore[arg-type]


def test_agent_list_shows_who_created_each_agent(team):
    make_agent(team.member, name="Mine")
    [view] = agents.list_agents(ctx=team.viewer)
    assert view.created_by == team.member.user_id
    assert view.created_by_name.startswith("User ")


# ---------------------------------------------------------------- hostile input (found by tests/fuzz)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Bot\x00"),
        ("description", "a\x00b"),
        ("instructions", "\x00"),
        ("model", "gpt\x00"),
        ("tags", ["a\x00"]),
    ],
)
def test_a_nul_character_in_any_agent_field_is_refused_on_that_field_before_the_database(team, field, value):
    # PostgreSQL text columns refuse NUL: the service must say so, not crash (SQLite stored it).
    with pytest.raises(ValidationError) as caught:
        agents.create_agent(ctx=team.member, data=agent_data(**{field: value}))

    assert "NUL" in caught.value.field_errors[field]
    assert agents.list_agents(ctx=team.member) == []


def test_agent_names_that_differ_only_in_non_ascii_case_or_unicode_form_are_one_name(team):
    # SQLite's lower() folds ASCII only: "Ärger" and "äRGER" were two agents there.
    first = make_agent(team.member, name="Ärger  Bot")
    for spelling in ("äRGER BOT", "A\u0308rger Bot", " ärger\tbot "):
        with pytest.raises(ConflictError):
            make_agent(team.member, name=spelling)
    assert agents.update_agent(
        ctx=team.member, agent_id=first.id, data=agent_data(name="ÄRGER BOT")
    ).name == ("ÄRGER BOT")


def test_an_agent_name_with_text_direction_controls_is_refused(team):
    with pytest.raises(ValidationError) as caught:
        make_agent(team.member, name="Invoice \u202egpj.exe")
    assert "text-direction" in caught.value.field_errors["name"]


@pytest.mark.parametrize("agent_id", ["x\ud800", "x\x00", "a" * 10_000, 7, None])
def test_an_agent_id_that_could_never_exist_is_not_found_without_a_crash(team, agent_id):
    with pytest.raises(NotFoundError):
        agents.get_agent(ctx=team.member, agent_id=agent_id)
