"""The emulator itself: non-streaming endpoints, default and steered scripts, recording."""

from __future__ import annotations

import json
import subprocess
import sys

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.providers.base import ChatRequest, Message, TextDelta, ToolCallEvent
from tests.providers.conftest import KINDS, MODELS, ProviderFactory, collect


async def test_openai_non_streaming(emulator: Emulator) -> None:
    emulator.enqueue(Script([text("Hi there"), tool_call("f", {"a": 1}), usage(5, 2)]), model="gpt-4o")
    async with openai.AsyncOpenAI(api_key="k", base_url=emulator.openai_base_url, max_retries=0) as client:
        reply = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )

    message = reply.choices[0].message
    assert message.content == "Hi there"
    assert message.tool_calls[0].function.name == "f"
    assert json.loads(message.tool_calls[0].function.arguments) == {"a": 1}
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 2)
    assert reply.choices[0].finish_reason == "tool_calls"


async def test_anthropic_non_streaming(emulator: Emulator) -> None:
    emulator.enqueue(Script([text("Hi"), tool_call("f", {"a": 1})]))
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=emulator.anthropic_base_url, max_retries=0
    ) as client:
        reply = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )

    assert [b.type for b in reply.content] == ["text", "tool_use"]
    assert reply.content[1].input == {"a": 1}
    assert reply.stop_reason == "tool_use"


async def test_gemini_non_streaming(emulator: Emulator) -> None:
    emulator.enqueue(Script([text("Hi "), text("you"), usage(3, 2)]))
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emulator.google_base_url))
    try:
        reply = await client.aio.models.generate_content(model="gemini-2.5-pro", contents="x")
    finally:
        await client.aio.aclose()
        client.close()

    assert reply.text == "Hi you"
    assert reply.usage_metadata.prompt_token_count == 3
    assert emulator.requests[-1].path == "/v1/models/gemini-2.5-pro:generateContent"


@pytest.mark.parametrize("kind", KINDS)
async def test_default_answer_echoes_the_last_user_message(kind: str, make: ProviderFactory) -> None:
    convo = (Message("user", "first"), Message("assistant", "ok"), Message("user", "purple elephants"))

    events = await collect(make(kind), ChatRequest(model=MODELS[kind], messages=convo))

    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert '"purple elephants"' in answer


@pytest.mark.parametrize("kind", KINDS)
async def test_a_json_user_message_steers_each_turn(kind: str, make: ProviderFactory) -> None:
    steer = {
        "emulator": [
            {"steps": [{"tool_call": {"name": "lookup", "arguments": {"q": "x"}}}]},
            {"steps": [{"text": "Final answer."}]},
        ]
    }
    provider = make(kind)
    convo: tuple[Message, ...] = (Message("user", json.dumps(steer)),)

    events = await collect(provider, ChatRequest(model=MODELS[kind], messages=convo))
    call = next(e.call for e in events if isinstance(e, ToolCallEvent))
    convo += (
        Message("assistant", tool_calls=(call,)),
        Message("tool", "42", tool_call_id=call.id, name="lookup"),
    )
    events = await collect(provider, ChatRequest(model=MODELS[kind], messages=convo))
    final = "".join(e.text for e in events if isinstance(e, TextDelta))
    convo += (Message("assistant", final), Message("tool", "again", tool_call_id="x", name="lookup"))
    events = await collect(provider, ChatRequest(model=MODELS[kind], messages=convo))

    assert call.name == "lookup" and call.arguments == {"q": "x"}
    assert final == "Final answer."
    assert "The tool returned" in "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_scripts_queue_per_model_before_the_default_queue(
    emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script([text("any model")]))
    emulator.enqueue(Script([text("for 4o")]), model="gpt-4o")
    provider = make("openai")

    async def answer(model: str) -> str:
        events = await collect(provider, ChatRequest(model=model, messages=(Message("user", "q"),)))
        return "".join(e.text for e in events if isinstance(e, TextDelta))

    assert await answer("gpt-4o") == "for 4o"
    assert await answer("gpt-4o") == "any model"


async def test_requests_are_recorded_without_credentials_and_reset_clears_them(
    emulator: Emulator, make: ProviderFactory
) -> None:
    await collect(
        make("anthropic", api_key="sk-ant-secret"), ChatRequest("claude-haiku-4-5", (Message("user", "q"),))
    )

    recorded = emulator.requests[-1]
    assert recorded.vendor == "anthropic" and recorded.stream
    assert "sk-ant-secret" not in json.dumps(recorded.headers)
    assert recorded.headers["anthropic-version"]
    emulator.enqueue(Script([text("x")]))
    emulator.reset()
    assert emulator.requests == []


def test_script_from_json_round_trip() -> None:
    script = Script.from_json(
        {
            "steps": [{"text": "a"}, {"usage": {"input": 1, "output": 2}}],
            "error": 429,
            "tokens_per_second": 5,
            "disconnect_after": 2,
            "usage": False,
        }
    )

    assert script.error_spec is not None and script.error_spec.status == 429
    assert (script.tokens_per_second, script.disconnect_after, script.include_usage) == (5, 2, False)
    with pytest.raises(ValueError):
        Script.from_json({"steps": [{"dance": 1}]})


def test_runs_standalone_from_the_command_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "galaxyco_ui.devtools.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Provider emulator on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()
