"""Fuzz: trigger URL templates (saved through the service) and request bodies rendered
through them (the pure renderer the POST uses)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import agent_hooks
from galaxyco_ui.services.agent_hooks import render_template, validate_template
from galaxyco_ui.services.runs import MAX_INPUT_CHARS
from tests.factories import make_agent, make_team
from tests.fuzz.support import fuzz, hostile_text, json_values, mostly, outcome, workspace_snapshot

_key = st.one_of(st.sampled_from(["a", "text", "0", "1", "items", "é", "-1", "__class__"]), hostile_text(6))
_placeholder = st.one_of(
    st.lists(_key, max_size=4).map(lambda keys: "{{ " + ".".join(["body", *keys]) + " }}"),
    st.sampled_from(
        ["{{body}}", "{{ body }}", "{{\tbody.a\n}}", "{{ headers.x }}", "{{ 7*7 }}", "{{", "}}", "{"]
    ),
)
templates = mostly(
    st.lists(st.one_of(_placeholder, st.text(max_size=20)), min_size=1, max_size=6).map("".join),
    st.one_of(hostile_text(80), json_values()),
)
bodies: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text(30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=20,
)


@fuzz(200)
@given(template=templates)
def test_any_template_is_saved_or_refused_on_its_field_and_a_refusal_changes_nothing(template):
    team = make_team()
    agent = make_agent(team.member)
    agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    before = workspace_snapshot(team.workspace_id)

    view, error = outcome(
        lambda: agent_hooks.set_hook_template(ctx=team.member, agent_id=agent.id, input_template=template)
    )

    if error is None:
        assert view.input_template == template
    else:
        assert isinstance(error, ValidationError) and set(error.field_errors) == {"input_template"}
        assert workspace_snapshot(team.workspace_id) == before


@fuzz(600)
@given(template=templates, body=bodies)
def test_a_valid_template_renders_any_body_to_text_or_refuses_it_on_the_body_field(template, body):
    try:
        checked = validate_template(template)
    except ValidationError as error:
        assert set(error.field_errors) == {"input_template"}
        return

    rendered, error = outcome(lambda: render_template(checked, body, limit=MAX_INPUT_CHARS))

    if error is None:
        assert isinstance(rendered, str)
        assert len(rendered) <= MAX_INPUT_CHARS + len(checked) + len(render_template("{{ body }}", body))
    else:
        assert isinstance(error, ValidationError) and set(error.field_errors) == {"body"}
