"""Fuzz: agent fields (name, description, instructions, model, provider, tools, tags,
limits, collections) through create_agent and update_agent.

Each case builds its own workspace, so a case never depends on what an earlier one left.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.services import agents
from galaxyco_ui.services import knowledge as knowledge_service
from galaxyco_ui.services.validation import name_key, one_line, text_problem
from tests.factories import agent_data, make_team
from tests.fuzz.support import fuzz, hostile_text, json_values, mostly, outcome, workspace_snapshot

TOOLS = ["calculator", "current_time", "http_request"]
PROVIDERS = ["openai", "anthropic", "google", "openai_compatible"]


def _number() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(-(2**70), 2**70),
        st.integers(-5, 60),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["8", "0.5", "1e309", "NaN", "", "-0"]),
        st.none(),
        st.booleans(),
    )


FIELDS = {
    "name": mostly(
        st.sampled_from(["Support bot", " <b>Bold</b>  name ", "İstanbul"]), hostile_text(100) | json_values()
    ),
    "description": mostly(
        st.sampled_from(["", "Answers *questions*", "<script>x</script>"]), hostile_text(600)
    ),
    "instructions": mostly(st.sampled_from(["Be brief.", "# Rules\n- [x](javascript:1)"]), hostile_text(300)),
    "model": mostly(
        st.sampled_from(["gpt-4.1-mini", "claude-sonnet-4", " gemini-2.5-pro "]),
        hostile_text(130) | json_values(),
    ),
    "provider": mostly(
        st.sampled_from(PROVIDERS), st.sampled_from(["OpenAI", "openai ", "ollama", ""]) | hostile_text(20)
    ),
    "tools": mostly(
        st.lists(st.sampled_from(TOOLS), max_size=4),
        st.lists(st.sampled_from([*TOOLS, "shell", "Calculator", "calculator\x00"]), max_size=6)
        | json_values(),
    ),
    "tags": mostly(
        st.lists(st.sampled_from(["ops", " Ops ", "sales"]), max_size=3),
        st.lists(hostile_text(40), max_size=15) | hostile_text(200),
    ),
    "temperature": mostly(st.floats(0, 2), _number()),
    "max_steps": mostly(st.integers(1, 50), _number()),
    "max_output_tokens": mostly(st.integers(16, 32_000), _number()),
    "knowledge_collection_ids": mostly(
        st.lists(st.just("COLLECTION"), max_size=2),
        st.lists(hostile_text(40) | st.just("COLLECTION"), max_size=22),
    ),
}

overrides = st.fixed_dictionaries({}, optional=FIELDS)


def _with_collection(team, data: dict[str, object]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Swap the placeholder "COLLECTION" for the id of a real collection of the workspace."""
    ids = data.get("knowledge_collection_ids")
    if isinstance(ids, list) and "COLLECTION" in ids:
        real = knowledge_service.create_collection(ctx=team.member, data={"name": "Docs"}).id
        data["knowledge_collection_ids"] = [real if i == "COLLECTION" else i for i in ids]
    return data


def _check_saved(view: agents.AgentView, data: dict[str, object]) -> None:
    """What was saved reads back, normalised as AgentInput documents."""
    assert isinstance(data["name"], str)
    assert view.name == one_line(data["name"]).strip()
    assert view.description == str(data.get("description", "")).strip()
    assert view.instructions == data.get("instructions", "")
    assert view.model == str(data["model"]).strip()
    assert view.tools == sorted(set(view.tools)) and set(view.tools) <= set(TOOLS)
    assert 0 <= view.temperature <= 2 and 1 <= view.max_steps <= 50 and 16 <= view.max_output_tokens <= 32_000
    for text in (view.name, view.description, view.instructions, view.model, *view.tags):
        assert text_problem(text) is None


@fuzz(250)
@given(overrides)
def test_create_agent_with_hostile_fields_saves_it_or_refuses_cleanly(changes):
    team = make_team()
    data = _with_collection(team, agent_data(**changes))
    before = workspace_snapshot(team.workspace_id)

    view, error = outcome(lambda: agents.create_agent(ctx=team.member, data=data))

    after = workspace_snapshot(team.workspace_id)
    unstorable = [f for f in FIELDS if text_problem(data.get(f))]
    if error is not None:
        assert isinstance(error, ValidationError), error
        assert after == before, "a refused create wrote something"
        if unstorable:
            assert set(unstorable) <= set(error.field_errors), (unstorable, error.field_errors)
        return
    assert not unstorable, f"unstorable text was saved in {unstorable}"
    _check_saved(view, data)
    assert agents.get_agent(ctx=team.member, agent_id=view.id) == view
    assert len(after["agents"]) == len(before["agents"]) + 1
    assert len(after["audit_events"]) == len(before["audit_events"]) + 1


@fuzz(120)
@given(overrides, mostly(st.just("OWN"), hostile_text(40) | st.integers()))
def test_update_agent_with_hostile_fields_or_ids_changes_it_or_nothing(changes, agent_id):
    team = make_team()
    agent = agents.create_agent(ctx=team.member, data=agent_data(name="Original"))
    data = _with_collection(team, agent_data(**changes))
    target = agent.id if agent_id == "OWN" else agent_id
    before = workspace_snapshot(team.workspace_id)

    view, error = outcome(lambda: agents.update_agent(ctx=team.member, agent_id=target, data=data))

    after = workspace_snapshot(team.workspace_id)
    if error is not None:
        assert isinstance(error, ValidationError | NotFoundError), error
        assert after == before, "a refused update wrote something"
        assert agents.get_agent(ctx=team.member, agent_id=agent.id) == agent
        return
    assert target == agent.id
    _check_saved(view, data)
    assert agents.get_agent(ctx=team.member, agent_id=agent.id) == view


# ---------------------------------------------------------------- one name, many spellings

names = st.one_of(
    st.sampled_from(
        ["İstanbul", "Straße", "ﬁle", "Ärger", "\u212aelvin", "Σίσυφος", "Crème brûlée", "ǅemal"]
    ),
    st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=40),
)
spellings = st.sampled_from(
    [
        str.upper,
        str.lower,
        str.swapcase,
        str.title,
        lambda s: f"  {s}\t",
        lambda s: s.replace(" ", " \u00a0 "),
        lambda s: unicodedata.normalize("NFD", s),
        lambda s: unicodedata.normalize("NFKC", s).upper(),
    ]
)


@fuzz(80)
@given(names, spellings)
def test_agent_names_that_differ_only_in_case_spacing_or_unicode_form_collide(name, spell):
    team = make_team()
    first, error = outcome(lambda: agents.create_agent(ctx=team.member, data=agent_data(name=name)))
    other = agents.create_agent(ctx=team.member, data=agent_data(name="Unrelated"))
    variant = spell(name)
    if error is not None or name_key(one_line(variant)) != name_key(first.name) or not one_line(variant):
        return  # not a name, or a spelling that is not the same name by the documented rule
    before = workspace_snapshot(team.workspace_id)

    _, again = outcome(lambda: agents.create_agent(ctx=team.member, data=agent_data(name=variant)))
    _, renamed = outcome(
        lambda: agents.update_agent(ctx=team.member, agent_id=other.id, data=agent_data(name=variant))
    )

    assert isinstance(again, ConflictError) and "name" in again.field_errors, (name, variant, again)
    assert isinstance(renamed, ConflictError) and "name" in renamed.field_errors, (name, variant, renamed)
    assert workspace_snapshot(team.workspace_id) == before
    # Its own agent may take any spelling of its own name.
    respelled, error = outcome(
        lambda: agents.update_agent(ctx=team.member, agent_id=first.id, data=agent_data(name=variant))
    )
    assert error is None and respelled.name == one_line(variant), error
