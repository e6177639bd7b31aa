"""The executor, end to end through the queue: real SDK, emulated provider, real database."""

from __future__ import annotations

import asyncio

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.errors import PermissionDeniedError
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.services import provider_keys, runs
from tests.factories import make_agent
from tests.runs.conftest import events_of


async def test_a_run_streams_its_answer_and_succeeds(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("Hello from the emulator."), usage(12, 5)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Say hello")
    assert view.status == "queued"
    run = await engine(view.id)

    assert run.status == "succeeded"
    assert run.output == "Hello from the emulator."
    assert (run.input_tokens, run.output_tokens) == (12, 5)
    assert run.cost_usd is None  # an OpenAI-compatible model has no known price
    events = await events_of(view.id)
    types = [e.type for e in events]
    assert types[0] == "status" and types[-1] == "status"
    assert "".join(e.data["delta"] for e in events if e.type == "text") == "Hello from the emulator."
    assert [e.data["status"] for e in events if e.type == "status"] == ["queued", "running", "succeeded"]
    final = next(e for e in events if e.type == "final")
    assert final.data["output"] == "Hello from the emulator."


async def test_a_tool_call_runs_the_tool_and_feeds_the_result_back(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(30, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What is 6 times 7?")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert run.output == "The answer is 42."
    assert (run.input_tokens, run.output_tokens) == (50, 14)
    steps = runs.get_steps(ctx=team.viewer, run_id=view.id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result", "model"]
    assert steps[1].data["arguments"] == {"expression": "6 * 7"}
    assert steps[2].content == "42" and steps[2].data["is_error"] is False
    second_request = emulator.requests[-1].body
    tool_messages = [m for m in second_request["messages"] if m["role"] == "tool"]
    assert tool_messages and tool_messages[0]["content"] == "42"


async def test_a_tool_the_agent_does_not_have_is_refused_and_the_run_goes_on(wired, emulator, engine):
    team, agent = wired  # the agent has the calculator only
    emulator.enqueue(Script([tool_call("current_time", {"timezone": "UTC"}), usage(20, 8)]))
    emulator.enqueue(Script([text("I cannot tell the time."), usage(30, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What time is it?")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert run.output == "I cannot tell the time."
    steps = runs.get_steps(ctx=team.viewer, run_id=view.id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result", "model"]
    refusal = steps[2]
    assert refusal.data["is_error"] is True and refusal.data["error"] == "tool_not_enabled"
    assert "'current_time' is not enabled for this agent" in refusal.content
    assert "calculator" in refusal.content
    tool_messages = [m for m in emulator.requests[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"] == refusal.content  # the model is told, not the tool run
    events = await events_of(view.id)
    result = next(e for e in events if e.type == "tool_result")
    assert result.data["is_error"] is True and "not enabled" in result.data["content"]


async def test_an_agent_that_never_stops_calling_tools_fails_at_max_steps(wired, emulator, engine):
    team, agent = wired
    for _ in range(4):
        emulator.enqueue(Script([tool_call("calculator", {"expression": "1+1"})]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Loop")
    run = await engine(view.id)

    assert run.status == "failed"
    assert "used all 4 steps" in run.error


async def test_a_rejected_key_fails_the_run_with_a_message_that_says_what_to_do(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script.error(401))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id)

    assert run.status == "failed"
    assert "API key" in run.error and "Settings" in run.error
    assert "emulator-key" not in run.error


async def test_a_provider_outage_is_retried_then_reported(wired, emulator, engine):
    team, agent = wired
    for _ in range(3):
        emulator.enqueue(Script.error(500))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id, timeout=30)

    assert run.status == "failed"
    assert run.error
    assert len(emulator.requests) == 3


async def test_a_run_without_a_provider_key_fails_clearly(team, engine):
    agent = make_agent(team.member, provider="anthropic", model="claude-haiku-4-5")

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id)

    assert run.status == "failed"
    assert run.error == "No Anthropic API key is set for this workspace. Add one in Settings → Providers."


async def test_a_run_whose_key_was_removed_by_a_base_url_change_fails_clearly_and_sends_nothing(
    team, emulator, engine
):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key="sk-old-key-4242")
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="", base_url=emulator.openai_base_url
    )
    agent = make_agent(team.member, provider="openai", model="gpt-4.1-mini")

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id)

    assert run.status == "failed"
    assert "No OpenAI API key is stored" in run.error and "Settings → Providers" in run.error
    assert emulator.requests == []


async def test_cancel_stops_a_streaming_run_within_a_second(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=10))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Talk slowly")
    bus = get_event_bus()
    for _ in range(200):  # wait until text is streaming
        if any(e.type == "text" for e in await bus.read(run_stream(view.id), after=None)):
            break
        await asyncio.sleep(0.02)

    asked = asyncio.get_running_loop().time()
    await runs.cancel_run(ctx=team.admin, run_id=view.id)
    run = await engine(view.id, timeout=5)

    assert run.status == "cancelled"
    assert asyncio.get_running_loop().time() - asked < 1.0
    assert run.error == "Cancelled by a user."


async def test_the_wall_clock_timeout_ends_a_slow_run(wired, emulator, engine, monkeypatch):
    monkeypatch.setenv("RUN_TIMEOUT_SECONDS", "1")
    reset_settings()
    team, agent = wired
    emulator.enqueue(Script.slow("word " * 100, tokens_per_second=20))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Slow")).id)

    assert run.status == "failed"
    assert "longer than 1 seconds" in run.error
    monkeypatch.undo()
    reset_settings()


async def test_a_known_model_has_its_cost_computed(team, emulator, engine):
    provider_keys.set_provider_key(
        ctx=team.owner, provider="openai", api_key="sk-test", base_url=emulator.openai_base_url
    )
    agent = make_agent(team.owner, provider="openai", model="gpt-4.1-mini", tools=[])
    emulator.enqueue(Script([text("ok"), usage(1_000_000, 1_000_000)]))

    run = await engine((await runs.start_run(ctx=team.owner, agent_id=agent.id, input="Hi")).id)

    assert run.status == "succeeded", run.error
    assert run.cost_usd is not None and float(run.cost_usd) > 0


async def test_retry_starts_a_new_run_with_the_same_input_and_agent_config(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script.error(401))
    first = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Try me")
    await engine(first.id)
    emulator.enqueue(Script([text("Second time lucky."), usage(3, 3)]))

    second = await runs.retry_run(ctx=team.member, run_id=first.id)
    run = await engine(second.id)

    assert second.id != first.id and second.retry_of == first.id
    assert run.input == "Try me" and run.status == "succeeded"


async def test_viewers_can_read_runs_but_not_start_or_cancel_them(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("ok")]))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    await engine(view.id)

    with pytest.raises(PermissionDeniedError):
        await runs.start_run(ctx=team.viewer, agent_id=agent.id, input="Hi")
    with pytest.raises(PermissionDeniedError):
        await runs.cancel_run(ctx=team.viewer, run_id=view.id)
    assert runs.get_run(ctx=team.viewer, run_id=view.id).status == "succeeded"
    assert runs.get_run(ctx=team.viewer, run_id=view.id).can_cancel is False
