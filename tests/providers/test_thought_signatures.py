"""Gemini 3 thought signatures, through google-genai against the emulator: the adapter keeps
each function call's signature on ``ToolCall.signature`` and sends it back; the emulator, like
the API, refuses a follow-up turn that drops or alters one."""

from __future__ import annotations

import base64
import dataclasses
import json

import httpx
import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call
from galaxyco_ui.providers.base import (
    ChatProvider,
    ChatRequest,
    Message,
    ProviderBadRequestError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
)
from tests.providers.conftest import ProviderFactory, collect
from tests.providers.test_adapters import WEATHER

GEMINI_3 = "gemini-3-flash-preview"


def ask(model: str, *messages: Message) -> ChatRequest:
    return ChatRequest(model=model, messages=messages, tools=(WEATHER,), max_output_tokens=256)


def calls_of(events: list[StreamEvent]) -> list[ToolCall]:
    return [e.call for e in events if isinstance(e, ToolCallEvent)]


def results(*calls: ToolCall) -> tuple[Message, ...]:
    """The assistant's turn with ``calls`` and one tool result per call."""
    return (
        Message("assistant", tool_calls=calls),
        *(Message("tool", f'{{"ok": "{c.name}"}}', tool_call_id=c.id, name=c.name) for c in calls),
    )


def answer(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def one_call(emulator: Emulator, provider: ChatProvider, city: str) -> tuple[Message, ToolCall]:
    """Ask Gemini 3 for the weather in ``city``: the question and the call it answers with."""
    question = Message("user", f"Weather in {city}?")
    emulator.enqueue(Script([tool_call("get_weather", {"city": city})]))
    [call] = calls_of(await collect(provider, ask(GEMINI_3, question)))
    return question, call


def decoded(signature: str) -> bytes:
    """Signature bytes from base64 in either alphabet (google-genai sends the URL-safe one)."""
    return base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_"))


def unsigned(call: ToolCall) -> ToolCall:
    return dataclasses.replace(call, signature=None)


async def test_multi_step_tool_use_round_trips_each_signature(
    emulator: Emulator, make: ProviderFactory
) -> None:
    provider = make("google")
    question = Message("user", "Weather in Paris, then in Rome?")
    emulator.enqueue(Script([tool_call("get_weather", {"city": "Paris"})]))
    emulator.enqueue(Script([tool_call("get_weather", {"city": "Rome"})]))
    emulator.enqueue(Script([text("Paris and Rome: sunny.")]))

    [first] = calls_of(await collect(provider, ask(GEMINI_3, question)))
    sent_first = emulator.requests[-1]
    [second] = calls_of(await collect(provider, ask(GEMINI_3, question, *results(first))))
    step_two = emulator.requests[-1].body["contents"]
    events = await collect(provider, ask(GEMINI_3, question, *results(first), *results(second)))

    assert answer(events) == "Paris and Rome: sunny."
    assert first.signature and second.signature and first.signature != second.signature
    assert "thoughtSignature" not in json.dumps(sent_first.body)  # nothing to send back yet
    # Each signature goes back, byte for byte, on the function-call part it came with.
    assert decoded(step_two[1]["parts"][0]["thoughtSignature"]) == decoded(first.signature)
    step_three = emulator.requests[-1].body["contents"]
    signed = [p["thoughtSignature"] for c in step_three for p in c["parts"] if "functionCall" in p]
    assert [decoded(s) for s in signed] == [decoded(first.signature), decoded(second.signature)]


async def test_a_follow_up_without_the_signature_is_refused_like_the_api(
    emulator: Emulator, make: ProviderFactory
) -> None:
    provider = make("google")
    question, call = await one_call(emulator, provider, "Oslo")
    emulator.enqueue(Script([text("never sent")]))

    with pytest.raises(ProviderBadRequestError) as refused:
        await collect(provider, ask(GEMINI_3, question, *results(unsigned(call))))

    assert refused.value.status == 400
    assert "Function call is missing a thought_signature in functionCall parts" in str(refused.value)
    assert "`default_api:get_weather` , position 2" in str(refused.value)
    # The refusal used no script: the next answer is still the queued one.
    events = await collect(provider, ask(GEMINI_3, question, *results(call)))
    assert answer(events) == "never sent"


async def test_an_altered_or_moved_signature_is_refused_as_corrupted(
    emulator: Emulator, make: ProviderFactory
) -> None:
    provider = make("google")
    question, call = await one_call(emulator, provider, "Lima")
    assert call.signature is not None
    raw = bytearray(base64.b64decode(call.signature))
    raw[-1] ^= 1
    altered = dataclasses.replace(call, signature=base64.b64encode(bytes(raw)).decode())
    moved = dataclasses.replace(call, name="get_time")  # the signature was issued for get_weather

    for bad in (altered, moved):
        with pytest.raises(ProviderBadRequestError, match=r"HTTP 400\): Corrupted thought signature\."):
            await collect(provider, ask(GEMINI_3, question, *results(bad)))


async def test_parallel_calls_carry_one_signature_on_the_first_call(
    emulator: Emulator, make: ProviderFactory
) -> None:
    provider = make("google")
    question = Message("user", "Weather in Bern and Vaduz?")
    emulator.enqueue(
        Script([tool_call("get_weather", {"city": "Bern"}), tool_call("get_weather", {"city": "Vaduz"})])
    )
    emulator.enqueue(Script([text("Both cloudy.")]))

    first, second = calls_of(await collect(provider, ask(GEMINI_3, question)))
    events = await collect(provider, ask(GEMINI_3, question, *results(first, second)))

    assert first.signature is not None and second.signature is None
    assert answer(events) == "Both cloudy."
    model_turn = emulator.requests[-1].body["contents"][1]
    assert ["thoughtSignature" in p for p in model_turn["parts"]] == [True, False]


async def test_only_the_current_turn_needs_signatures(emulator: Emulator, make: ProviderFactory) -> None:
    """History from before the last user message (e.g. written by another model) is not checked."""
    provider = make("google")
    old = ToolCall("call_0", "get_weather", {"city": "Kyiv"})
    emulator.enqueue(Script([text("Noted.")]))

    events = await collect(
        provider,
        ask(GEMINI_3, Message("user", "Weather in Kyiv?"), *results(old), Message("user", "Thanks!")),
    )

    assert answer(events) == "Noted."


async def test_gemini_2_5_neither_signs_nor_checks(emulator: Emulator, make: ProviderFactory) -> None:
    provider = make("google")
    question = Message("user", "Weather in Quito?")
    emulator.enqueue(Script([tool_call("get_weather", {"city": "Quito"})]))
    emulator.enqueue(Script([text("Mild.")]))

    [call] = calls_of(await collect(provider, ask("gemini-2.5-flash", question)))
    events = await collect(provider, ask("gemini-2.5-flash", question, *results(call)))

    assert call.signature is None
    assert answer(events) == "Mild."


async def test_other_vendors_ignore_a_signature(emulator: Emulator, make: ProviderFactory) -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Nice"}, signature="c2lnbmF0dXJl")
    for kind, model in (("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5")):
        emulator.enqueue(Script([text("Warm.")]))
        events = await collect(make(kind), ask(model, Message("user", "Nice?"), *results(call)))
        assert answer(events) == "Warm."
        assert "c2lnbmF0dXJl" not in json.dumps(emulator.requests[-1].body)


def test_the_emulator_refuses_in_gemini_error_shape(emulator: Emulator) -> None:
    """The wire itself, without the SDK: a non-streaming request that drops the signature."""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Baku?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Baku"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]},
        ]
    }
    url = f"{emulator.google_base_url}/v1beta/models/{GEMINI_3}:generateContent"

    answer = httpx.post(url, json=body, headers={"x-goog-api-key": "k"})

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Function call is missing a thought_signature")
    assert "position 2" in error["message"]


def test_a_signature_survives_json_and_a_new_emulator(emulator: Emulator) -> None:
    """What the executor stores (JSON) is accepted later, even by another emulator process."""
    emulator.enqueue(Script([tool_call("get_weather", {"city": "Riga"})]))
    url = f"{emulator.google_base_url}/v1beta/models/{GEMINI_3}:generateContent"
    question = {"role": "user", "parts": [{"text": "Weather in Riga?"}]}
    first = httpx.post(url, json={"contents": [question]}, headers={"x-goog-api-key": "k"}).json()
    part = json.loads(json.dumps(first["candidates"][0]["content"]["parts"][0]))
    result = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]}
    body = {"contents": [question, {"role": "model", "parts": [part]}, result]}

    with Emulator() as other:
        other.enqueue(Script([text("Snow.")]))
        again = httpx.post(
            f"{other.google_base_url}/v1beta/models/{GEMINI_3}:generateContent",
            json=body,
            headers={"x-goog-api-key": "k"},
        )

    assert again.status_code == 200, again.text
    assert again.json()["candidates"][0]["content"]["parts"][0]["text"] == "Snow."
