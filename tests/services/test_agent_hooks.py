"""Trigger URLs (webhooks in): the template language, issuing and revoking tokens, who may
see and change them, and starting runs from a POST to the URL."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.errors import (
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AgentHook, AuditEvent, Run, Workspace, utcnow
from galaxyco_ui.services import agent_hooks, agents, provider_keys, runs
from galaxyco_ui.services import team as team_service
from galaxyco_ui.services.agent_hooks import (
    HOOK_REQUESTS_PER_MINUTE,
    MAX_TEMPLATE_CHARS,
    render_template,
    start_from_hook,
)
from galaxyco_ui.services.runs import MAX_INPUT_CHARS
from tests.factories import add_member, make_agent, membership_id, set_columns

# ---------------------------------------------------------------- the template language


def test_placeholders_walk_into_objects_and_lists_and_keep_the_text_around_them():
    body = {"ticket": {"id": 42, "subject": "Printer on fire"}, "tags": ["urgent", "hardware"]}

    rendered = render_template(
        "Ticket {{ body.ticket.id }}: {{body.ticket.subject}} [{{ body.tags.1 }}]", body
    )

    assert rendered == "Ticket 42: Printer on fire [hardware]"


def test_strings_go_in_as_they_are_and_other_values_as_json():
    body = {"s": "plain “text”", "n": 1.5, "b": True, "z": None, "o": {"k": "v"}, "l": [1, "x"]}

    rendered = render_template(
        "{{ body.s }}|{{ body.n }}|{{ body.b }}|{{ body.z }}|{{ body.o }}|{{ body.l }}", body
    )

    assert rendered == 'plain “text”|1.5|true|null|{"k": "v"}|[1, "x"]'


def test_the_whole_body_is_the_text_itself_or_the_json_of_an_object():
    assert render_template("Do: {{ body }}", "reboot the router") == "Do: reboot the router"
    assert render_template("{{ body }}", {"a": [1, 2], "é": "ü"}) == '{"a": [1, 2], "é": "ü"}'


@pytest.mark.parametrize(
    "path",
    [
        "body.missing",
        "body.ticket.missing",
        "body.tags.2",
        "body.tags.-1",
        "body.tags.x",
        "body.ticket.id.deeper",
    ],
)
def test_a_path_that_leads_nowhere_renders_as_nothing(path):
    body = {"ticket": {"id": 42}, "tags": ["a", "b"]}

    assert render_template("[{{ " + path + " }}]", body) == "[]"


def test_a_path_into_a_text_body_renders_as_nothing():
    assert render_template("<{{ body.field }}>", "just text") == "<>"


def test_a_number_key_of_an_object_is_read_as_a_key():
    assert render_template("{{ body.0 }}", {"0": "zero"}) == "zero"


def test_rendering_stops_once_past_the_limit_instead_of_building_a_huge_text():
    body = "x" * 1_000_000

    rendered = render_template("{{ body }}" * 400, body, limit=MAX_INPUT_CHARS)

    assert MAX_INPUT_CHARS < len(rendered) <= 1_000_000 + MAX_INPUT_CHARS


@pytest.mark.parametrize(
    "template",
    [
        "{{ headers.x }}",
        "{{ body",
        "body }}",
        "Hello {{ body.name }} and {{ body.other",
        "{{ }}",
        "{{ body..a }}",
        "{{ body.a b }}",
        "{{ body.a }} }}",
        "{{ __import__('os').system('id') }}",
        "{{ body.__class__.__mro__ }} {{ config }}",
        "{% for x in body %}{{ x }}{% endfor %}",
        "",
        "   ",
        "x" * (MAX_TEMPLATE_CHARS + 1),
        "bad \x00 text {{ body }}",
        "not a string",
    ],
)
def test_a_bad_template_is_refused_on_the_template_field(team, template):
    agent = make_agent(team.member)
    value: object = 42 if template == "not a string" else template

    with pytest.raises(ValidationError) as caught:
        agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template=value)  # type: ignore[arg-type]  # a hostile caller

    assert set(caught.value.field_errors) == {"input_template"}
    assert agent_hooks.get_hook(ctx=team.member, agent_id=agent.id) is None


def test_a_template_at_the_limit_with_single_braces_is_accepted(team):
    agent = make_agent(team.member)
    template = ("JSON {like: this} {{ body.a }} " * 200)[:MAX_TEMPLATE_CHARS]
    template = template[: template.rfind("}}") + 2]

    view = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template=template)

    assert view.input_template == template


# ---------------------------------------------------------------- issuing, replacing, turning off


def _row(agent_id: str) -> AgentHook:
    with session_scope() as session:
        hook = session.exec(select(AgentHook).where(AgentHook.agent_id == agent_id)).one()
        session.expunge(hook)
        return hook


def _audit_actions(workspace_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.workspace_id == workspace_id).order_by(AuditEvent.created_at)
        ).all()
        return [(e.action, json.dumps({"summary": e.summary, "data": e.data})) for e in rows]


def test_enabling_issues_a_long_random_token_stored_only_as_hash_and_ciphertext(team):
    agent = make_agent(team.member)

    view = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)

    assert view.enabled and view.can_edit
    assert view.token.startswith("gxh_") and len(view.token) == 4 + 43
    assert view.url == f"http://localhost:3000/api/v1/hooks/{view.token}"
    assert view.input_template == "{{ body }}"
    row = _row(agent.id)
    assert row.token_hash == hashlib.sha256(view.token.encode()).hexdigest()
    assert view.token not in row.token_encrypted and row.created_by == team.member.user_id
    other = agent_hooks.enable_hook(ctx=team.member, agent_id=make_agent(team.member).id)
    assert other.token != view.token


def test_enabling_a_url_that_is_already_on_keeps_its_token_and_may_change_the_template(team):
    agent = make_agent(team.member)
    first = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)

    again = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template="Say {{ body.x }}")

    assert again.token == first.token
    assert again.input_template == "Say {{ body.x }}"


def test_each_change_is_audited_without_the_token(team):
    agent = make_agent(team.member)
    first = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    agent_hooks.set_hook_template(ctx=team.member, agent_id=agent.id, input_template="{{ body.text }}")
    second = agent_hooks.regenerate_hook_token(ctx=team.member, agent_id=agent.id)
    agent_hooks.disable_hook(ctx=team.member, agent_id=agent.id)

    events = [e for e in _audit_actions(team.workspace_id) if e[0].startswith("agent_hook.")]

    assert [action for action, _ in events] == [
        "agent_hook.enabled",
        "agent_hook.template_changed",
        "agent_hook.regenerated",
        "agent_hook.disabled",
    ]
    for _, content in events:
        assert first.token not in content and second.token not in content
        assert first.token[4:20] not in content


async def test_regenerating_stops_the_old_url_at_once_and_the_new_one_works(team, engine):
    agent = make_agent(team.member)
    old = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)

    new = agent_hooks.regenerate_hook_token(ctx=team.member, agent_id=agent.id)

    assert new.token != old.token and new.url.endswith(new.token)
    with pytest.raises(NotFoundError):
        await start_from_hook(old.token, "hello")
    run = await start_from_hook(new.token, "hello")
    await engine(run.id)


async def test_turning_the_url_off_stops_it_and_turning_it_on_again_issues_a_new_token(team, engine):
    agent = make_agent(team.member)
    first = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template="Do {{ body }}")

    off = agent_hooks.disable_hook(ctx=team.member, agent_id=agent.id)

    assert off is not None and not off.enabled and off.token == "" and off.url == ""
    assert off.input_template == "Do {{ body }}"  # kept for next time
    with pytest.raises(NotFoundError):
        await start_from_hook(first.token, "hello")
    with pytest.raises(NotFoundError):  # nothing to regenerate while off
        agent_hooks.regenerate_hook_token(ctx=team.member, agent_id=agent.id)
    on = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    assert on.enabled and on.token not in ("", first.token) and on.input_template == "Do {{ body }}"
    with pytest.raises(NotFoundError):
        await start_from_hook(first.token, "hello")
    run = await start_from_hook(on.token, "hello")
    assert run.input == "Do hello"
    await engine(run.id)


def test_an_agent_without_a_url_has_no_hook_and_turning_it_off_is_a_no_op(team):
    agent = make_agent(team.member)

    assert agent_hooks.get_hook(ctx=team.viewer, agent_id=agent.id) is None
    assert agent_hooks.disable_hook(ctx=team.member, agent_id=agent.id) is None
    with pytest.raises(NotFoundError):
        agent_hooks.set_hook_template(ctx=team.member, agent_id=agent.id, input_template="{{ body }}")


# ---------------------------------------------------------------- who sees and changes what


def _others_agent(team):  # type: ignore[no-untyped-def]
    author = add_member(team.workspace_id, Role.MEMBER)
    agent = make_agent(author)
    agent_hooks.enable_hook(ctx=author, agent_id=agent.id)
    return agent


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_those_who_may_not_edit_the_agent_see_that_a_url_is_on_but_not_its_token(team, role):
    agent = _others_agent(team)

    view = agent_hooks.get_hook(ctx=team.ctx(role), agent_id=agent.id)

    assert view is not None and view.enabled
    assert (view.can_edit, view.token, view.url) == (False, "", "")


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_see_the_url_of_any_agent(team, role):
    agent = _others_agent(team)

    view = agent_hooks.get_hook(ctx=team.ctx(role), agent_id=agent.id)

    assert view is not None and view.can_edit and view.token.startswith("gxh_")


CHANGES = {
    "enable": lambda ctx, a: agent_hooks.enable_hook(ctx=ctx, agent_id=a, input_template="{{ body.x }}"),
    "regenerate": lambda ctx, a: agent_hooks.regenerate_hook_token(ctx=ctx, agent_id=a),
    "set template": lambda ctx, a: agent_hooks.set_hook_template(
        ctx=ctx, agent_id=a, input_template="Hi {{ body }}"
    ),
    "disable": lambda ctx, a: agent_hooks.disable_hook(ctx=ctx, agent_id=a),
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_those_who_may_not_edit_the_agent_cannot_change_its_url(team, role, change):
    agent = _others_agent(team)
    before = _row(agent.id)

    with pytest.raises(PermissionDeniedError):
        CHANGES[change](team.ctx(role), agent.id)

    assert _row(agent.id).model_dump() == before.model_dump()


def test_a_viewer_cannot_turn_on_a_url_even_for_an_agent_they_created(team):
    from tests.factories import insert_agent

    agent_id = insert_agent(team.workspace_id, created_by=team.viewer.user_id)

    with pytest.raises(PermissionDeniedError):
        agent_hooks.enable_hook(ctx=team.viewer, agent_id=agent_id)


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_admin_may_change_the_url_of_another_members_agent(team, change):
    agent = _others_agent(team)

    CHANGES[change](team.admin, agent.id)


@pytest.mark.parametrize("name", ["get", *CHANGES])
def test_another_workspaces_agent_is_not_found(team, other_team, name):
    foreign = make_agent(other_team.owner)
    agent_hooks.enable_hook(ctx=other_team.owner, agent_id=foreign.id)
    before = _row(foreign.id)
    call = CHANGES.get(name, lambda ctx, a: agent_hooks.get_hook(ctx=ctx, agent_id=a))

    with pytest.raises(NotFoundError):
        call(team.owner, foreign.id)

    assert _row(foreign.id).model_dump() == before.model_dump()


@pytest.mark.parametrize("agent_id", ["", "nope", "a\x00b", "\ud800", "x" * 5000, None, 7, ["id"]])
def test_ids_no_agent_could_have_are_not_found(team, agent_id):
    with pytest.raises(NotFoundError):
        agent_hooks.get_hook(ctx=team.owner, agent_id=agent_id)
    with pytest.raises(NotFoundError):
        agent_hooks.enable_hook(ctx=team.owner, agent_id=agent_id)


# ---------------------------------------------------------------- a POST to the URL


@pytest.fixture
def wired(team, emulator):  # type: ignore[no-untyped-def]
    """``team`` with an OpenAI-compatible key pointing at the emulator."""
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai_compatible",
        api_key="emulator-key",
        base_url=emulator.openai_base_url,
    )
    return team


async def test_a_post_starts_a_webhook_run_of_the_agent_with_the_rendered_input(wired, emulator, engine):
    team = wired
    agent = make_agent(team.member, provider="openai_compatible", model="test-model", tools=[])
    hook = agent_hooks.enable_hook(
        ctx=team.member, agent_id=agent.id, input_template="Triage ticket {{ body.id }}: {{ body.subject }}"
    )
    emulator.enqueue(Script([text("Triaged."), usage(5, 2)]))

    view = await start_from_hook(hook.token, {"id": 7, "subject": "VPN down"}, ip="203.0.113.9")
    run = await engine(view.id)

    assert (view.trigger, view.status, view.agent_id) == ("webhook", "queued", agent.id)
    assert run.status == "succeeded", run.error
    assert (run.trigger, run.created_by, run.input) == (
        "webhook",
        team.member.user_id,
        "Triage ticket 7: VPN down",
    )
    assert run.output == "Triaged."
    assert [r.id for r in runs.list_runs(ctx=team.viewer, trigger="webhook").runs] == [view.id]


async def test_the_run_acts_as_whoever_issued_the_current_token(team, engine):
    agent = make_agent(team.member)
    agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    hook = agent_hooks.regenerate_hook_token(ctx=team.admin, agent_id=agent.id)

    view = await start_from_hook(hook.token, "go")

    await engine(view.id)
    with session_scope() as session:
        run = session.get(Run, view.id)
        assert run is not None and run.created_by == team.admin.user_id


async def test_a_url_whose_issuer_left_the_workspace_is_refused_and_starts_nothing(team, engine):
    agent = make_agent(team.admin)
    hook = agent_hooks.enable_hook(ctx=team.admin, agent_id=agent.id)
    team_service.remove_member(ctx=team.owner, member_id=membership_id(team.admin))

    with pytest.raises(PermissionDeniedError) as caught:
        await start_from_hook(hook.token, "hello")

    assert "no longer a member" in caught.value.message
    assert runs.list_runs(ctx=team.owner).runs == []
    fresh = agent_hooks.regenerate_hook_token(ctx=team.owner, agent_id=agent.id)  # the way out
    await engine((await start_from_hook(fresh.token, "hello")).id)


async def test_a_url_whose_issuer_was_made_a_viewer_is_refused(team):
    agent = make_agent(team.member)
    hook = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    team_service.change_role(ctx=team.owner, member_id=membership_id(team.member), role="viewer")

    with pytest.raises(PermissionDeniedError):
        await start_from_hook(hook.token, "hello")

    assert runs.list_runs(ctx=team.owner).runs == []


async def test_the_url_of_a_deleted_agent_is_not_found(team):
    agent = make_agent(team.member)
    hook = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    agents.delete_agent(ctx=team.member, agent_id=agent.id)

    with pytest.raises(NotFoundError):
        await start_from_hook(hook.token, "hello")


async def test_the_url_of_an_agent_in_a_deleted_workspace_is_not_found(team):
    agent = make_agent(team.member)
    hook = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)
    set_columns(Workspace, team.workspace_id, deleted_at=utcnow())

    with pytest.raises(NotFoundError):
        await start_from_hook(hook.token, "hello")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "gxh_",
        "gxh_short",
        "gx_" + "a" * 43,
        "gxh_" + "a" * 43,
        "gxh_" + "a" * 42 + "\x00",
        "gxh_" + "é" * 43,
        None,
        42,
    ],
)
async def test_a_wrong_or_malformed_token_is_not_found(team, token):
    agent_hooks.enable_hook(ctx=team.member, agent_id=make_agent(team.member).id)

    with pytest.raises(NotFoundError):
        await start_from_hook(token, "hello")  # type: ignore[arg-type]  # a hostile caller


@pytest.mark.parametrize(
    ("template", "body", "problem"),
    [
        ("{{ body.text }}", {"other": 1}, "empty input"),
        ("{{ body }}", "   ", "empty input"),
        ("{{ body }}", "x" * (MAX_INPUT_CHARS + 1), "over 20,000"),
        ("{{ body }}" * 50, "x" * 1_000, "over 20,000"),
        ("{{ body.t }}", {"t": "nul \x00 inside"}, "NUL"),
        ("{{ body.t }}", {"t": "lone \ud800 surrogate"}, "surrogate"),
    ],
)
async def test_a_body_that_makes_no_usable_input_is_refused_on_the_body_field(team, template, body, problem):
    agent = make_agent(team.member)
    hook = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template=template)

    with pytest.raises(ValidationError) as caught:
        await start_from_hook(hook.token, body)

    assert set(caught.value.field_errors) == {"body"}
    assert problem in caught.value.field_errors["body"]
    assert runs.list_runs(ctx=team.owner).runs == []


async def test_each_url_takes_a_limited_number_of_requests_a_minute(team):
    agent = make_agent(team.member)
    busy = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id, input_template="{{ body.x }}")
    quiet = agent_hooks.enable_hook(
        ctx=team.member, agent_id=make_agent(team.member).id, input_template="{{ body.x }}"
    )
    # Requests whose body renders to nothing count too, and start no run.
    for _ in range(HOOK_REQUESTS_PER_MINUTE):
        with pytest.raises(ValidationError):
            await start_from_hook(busy.token, {})

    with pytest.raises(RateLimitedError) as caught:
        await start_from_hook(busy.token, {})

    assert 1 <= caught.value.retry_after <= 61
    with pytest.raises(ValidationError):  # another URL has its own allowance
        await start_from_hook(quiet.token, {})


def test_the_hook_context_is_the_issuer_now_and_is_not_counted_against_the_limit(team):
    agent = make_agent(team.member)
    hook = agent_hooks.enable_hook(ctx=team.member, agent_id=agent.id)

    for _ in range(HOOK_REQUESTS_PER_MINUTE + 5):
        ctx = agent_hooks.hook_context(hook.token, ip="198.51.100.7")

    assert (ctx.user_id, ctx.workspace_id, ctx.role, ctx.ip) == (
        team.member.user_id,
        team.workspace_id,
        Role.MEMBER,
        "198.51.100.7",
    )
    agent_hooks.regenerate_hook_token(ctx=team.member, agent_id=agent.id)
    with pytest.raises(NotFoundError):
        agent_hooks.hook_context(hook.token)


# ---------------------------------------------------------------- the role matrix
# (the shape of tests/services/test_permissions.py: each function, each role, an agent of
# their own and another member's; a refusal changes nothing)

MANAGERS = {Role.OWNER, Role.ADMIN}
EDITORS = {Role.OWNER, Role.ADMIN, Role.MEMBER}
MATRIX_CALLS = {
    "get_hook": (set(Role), set(Role), lambda ctx, a: agent_hooks.get_hook(ctx=ctx, agent_id=a)),
    "enable_hook": (EDITORS, MANAGERS, CHANGES["enable"]),
    "regenerate_hook_token": (EDITORS, MANAGERS, CHANGES["regenerate"]),
    "set_hook_template": (EDITORS, MANAGERS, CHANGES["set template"]),
    "disable_hook": (EDITORS, MANAGERS, CHANGES["disable"]),
}


def test_the_matrix_covers_every_public_function_taking_a_context():
    import inspect

    public = {
        name
        for name, fn in vars(agent_hooks).items()
        if inspect.isfunction(fn)
        and fn.__module__ == agent_hooks.__name__
        and not name.startswith("_")
        and "ctx" in inspect.signature(fn).parameters
    }
    assert public == set(MATRIX_CALLS)


@pytest.mark.parametrize("whose", ["own", "another member's"])
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", list(MATRIX_CALLS))
def test_each_role_may_or_may_not_call_each_function(team, name, role, whose):
    from tests.factories import insert_agent

    ctx = team.ctx(role)
    author = ctx if whose == "own" else add_member(team.workspace_id, Role.MEMBER)
    agent_id = insert_agent(team.workspace_id, created_by=author.user_id)  # even a viewer's "own"
    agent_hooks.enable_hook(ctx=team.owner, agent_id=agent_id)
    on_own, on_others, call = MATRIX_CALLS[name]
    allowed = role in (on_own if whose == "own" else on_others)
    before = _row(agent_id).model_dump()

    if allowed:
        call(ctx, agent_id)
    else:
        with pytest.raises(PermissionDeniedError):
            call(ctx, agent_id)
        assert _row(agent_id).model_dump() == before
