"""Runs on Gemini 3, end to end through the queue: each model step's thought signature is
stored with the step and goes back to Gemini on the next request, also after a resume."""

from __future__ import annotations

import base64

import pytest

from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import approvals, provider_keys, runs
from tests.factories import make_agent
from tests.runs.test_approvals import until_status


@pytest.fixture
def gemini_key(team, emulator):  # type: ignore[no-untyped-def]
    """``team`` with a Google key pointing at the emulator."""
    provider_keys.set_provider_key(
        ctx=team.admin, provider="google", api_key="AIza-test", base_url=emulator.google_base_url
    )
    return team


def decoded(signature: str) -> bytes:
    """Signature bytes from base64 in either alphabet (google-genai sends the URL-safe one)."""
    return base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_"))


async def test_a_multi_step_tool_run_on_gemini_3_round_trips_the_signatures(gemini_key, emulator, engine):
    team = gemini_key
    agent = make_agent(
        team.member, provider="google", model="gemini-3-flash-preview", tools=["calculator"], max_steps=4
    )
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([tool_call("calculator", {"expression": "42 + 1"}), usage(30, 8)]))
    emulator.enqueue(Script([text("The answer is 43."), usage(40, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="6 times 7, plus one?")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert run.output == "The answer is 43."
    steps = runs.get_steps(ctx=team.member, run_id=view.id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result"] * 2 + ["model"]
    stored = [
        s.data["tool_calls"][0]["signature"] for s in steps if s.kind == "model" and s.data["tool_calls"]
    ]
    assert len(stored) == 2 and all(stored) and stored[0] != stored[1]
    requests = [r for r in emulator.requests if r.vendor == "google"]
    assert len(requests) == 3  # no request was refused for a missing or altered signature
    last = requests[-1].body["contents"]
    sent = [p["thoughtSignature"] for c in last for p in c["parts"] if "functionCall" in p]
    assert [decoded(s) for s in sent] == [decoded(s) for s in stored]


async def test_a_run_on_gemini_2_5_stores_no_signature(gemini_key, emulator, engine):
    team = gemini_key
    agent = make_agent(team.member, provider="google", model="gemini-2.5-flash", tools=["calculator"])
    emulator.enqueue(Script([tool_call("calculator", {"expression": "2 + 2"})]))
    emulator.enqueue(Script([text("4.")]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="2+2?")).id)

    assert run.status == "succeeded", run.error
    first = runs.get_steps(ctx=team.member, run_id=run.id)[0]
    assert first.data["tool_calls"] == [
        {"id": "call_0", "name": "calculator", "arguments": {"expression": "2 + 2"}}
    ]


async def test_a_gemini_3_run_resumed_after_an_approval_sends_the_stored_signature(
    gemini_key, emulator, engine
):
    team = gemini_key
    """The history of a resumed run is rebuilt from its steps: Gemini 3 refuses it unless the
    stored signature goes back on the function call."""

    agent = make_agent(
        team.member,
        provider="google",
        model="gemini-3-flash-preview",
        tools=["calculator"],
        approval_tools=["calculator"],
        max_steps=4,
    )
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(30, 6)]))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What is 6 times 7?")
    await until_status(view.id, "waiting_approval")
    pending = approvals.get_run_approval(ctx=team.member, run_id=view.id)
    assert pending is not None
    [first] = [s for s in runs.get_steps(ctx=team.member, run_id=view.id) if s.kind == "model"]
    stored = first.data["tool_calls"][0]["signature"]

    await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert run.output == "The answer is 42."
    resumed = emulator.requests[-1].body["contents"]
    sent = [p["thoughtSignature"] for c in resumed for p in c["parts"] if "functionCall" in p]
    assert [decoded(s) for s in sent] == [decoded(stored)]
