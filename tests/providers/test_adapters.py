"""Each adapter, through its vendor's real SDK, against the emulator: text, tools, usage, finish."""

from __future__ import annotations

import asyncio
import json

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.providers.base import (
    ChatRequest,
    Finish,
    Message,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from tests.providers.conftest import KINDS, MODELS, ProviderFactory, collect

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)


def request(kind: str, *messages: Message, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
    convo = messages or (Message("system", "Be brief."), Message("user", "Say hello"))
    return ChatRequest(model=MODELS[kind], messages=convo, tools=tools, max_output_tokens=256)


@pytest.mark.parametrize("kind", KINDS)
async def test_text_streams_as_ordered_deltas_then_usage_then_finish(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script([text("Hello brave new world"), usage(12, 4)]))

    events = await collect(make(kind), request(kind))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["Hello", " brave", " new", " world"]
    assert events[-2:] == [Usage(12, 4), Finish("stop")]


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_call_arguments_are_parsed_and_the_result_goes_back_in_vendor_format(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    provider = make(kind)
    emulator.enqueue(Script([text("Checking."), tool_call("get_weather", {"city": "Paris", "days": 2})]))
    first = request(
        kind, Message("system", "Be brief."), Message("user", "Weather in Paris?"), tools=(WEATHER,)
    )

    events = await collect(provider, first)

    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1
    call = calls[0]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris", "days": 2})
    assert call.id
    assert events[-1] == Finish("tool_calls")

    emulator.enqueue(Script([text("Sunny, 21 °C.")]))
    second = request(
        kind,
        *first.messages,
        Message("assistant", "Checking.", tool_calls=(call,)),
        Message("tool", '{"temp_c": 21}', tool_call_id=call.id, name="get_weather"),
        tools=(WEATHER,),
    )
    events = await collect(provider, second)

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sunny, 21 °C."
    body = emulator.requests[-1].body
    if kind in ("openai", "openai_compatible"):
        assistant, result = body["messages"][-2:]
        assert assistant["tool_calls"][0]["id"] == call.id
        assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "days": 2}
        assert result == {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}
        assert body["tools"][0] == {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER.description,
                "parameters": WEATHER.parameters,
            },
        }
    elif kind == "anthropic":
        assistant, result = body["messages"][-2:]
        assert assistant["content"][-1] == {
            "type": "tool_use",
            "id": call.id,
            "name": "get_weather",
            "input": {"city": "Paris", "days": 2},
        }
        assert result == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": '{"temp_c": 21}'}],
        }
        assert body["tools"][0]["input_schema"] == WEATHER.parameters
    else:
        model_turn, result = body["contents"][-2:]
        assert model_turn["role"] == "model"
        assert model_turn["parts"][-1]["functionCall"] == {
            "name": "get_weather",
            "args": {"city": "Paris", "days": 2},
        }
        assert result["role"] == "user"
        assert result["parts"][0]["functionResponse"]["name"] == "get_weather"
        assert result["parts"][0]["functionResponse"]["response"] == {"result": '{"temp_c": 21}'}
        declaration = body["tools"][0]["functionDeclarations"][0]
        assert declaration["name"] == "get_weather"
        # google-genai sends this field in its proto name; the API accepts both spellings.
        schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
        assert schema == WEATHER.parameters


async def test_gemini_tool_calls_get_stable_synthesized_ids(
    emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script([tool_call("a", {"x": 1}), tool_call("b", {})]))

    events = await collect(make("google"), request("google", Message("user", "go"), tools=(WEATHER,)))

    assert [e.call for e in events if isinstance(e, ToolCallEvent)] == [
        ToolCall("call_0", "a", {"x": 1}),
        ToolCall("call_1", "b", {}),
    ]


async def test_anthropic_merges_consecutive_tool_results_into_one_user_turn(
    emulator: Emulator, make: ProviderFactory
) -> None:
    calls = (ToolCall("toolu_1", "a", {}), ToolCall("toolu_2", "b", {}))
    convo = (
        Message("user", "go"),
        Message("assistant", "", tool_calls=calls),
        Message("tool", "one", tool_call_id="toolu_1", name="a"),
        Message("tool", "two", tool_call_id="toolu_2", name="b"),
    )

    await collect(make("anthropic"), request("anthropic", *convo))

    messages = emulator.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in messages[-1]["content"]] == ["toolu_1", "toolu_2"]
    assert all(b["type"] == "tool_use" for b in messages[1]["content"])  # no empty text block


@pytest.mark.parametrize("kind", KINDS)
async def test_system_prompt_and_limits_reach_the_vendor_where_it_expects_them(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    await collect(make(kind), request(kind))

    recorded = emulator.requests[-1]
    body = recorded.body
    if kind == "openai":
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert body["max_completion_tokens"] == 256 and "max_tokens" not in body
        assert body["stream_options"] == {"include_usage": True}
    elif kind == "openai_compatible":
        assert body["max_tokens"] == 256 and "max_completion_tokens" not in body
    elif kind == "anthropic":
        assert body["system"] == "Be brief."
        assert body["max_tokens"] == 256
        assert body["temperature"] == 0.7  # sent as extra_body: anthropic 2.x dropped the argument
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert recorded.path == f"/v1/models/{MODELS[kind]}:streamGenerateContent"
        assert recorded.query == {"alt": ["sse"]}
        assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
        assert body["generationConfig"]["maxOutputTokens"] == 256
    assert not {"authorization", "x-api-key", "x-goog-api-key"} & set(recorded.headers)


async def test_openai_reasoning_models_get_no_temperature(emulator: Emulator, make: ProviderFactory) -> None:
    await collect(make("openai"), ChatRequest(model="o4-mini", messages=(Message("user", "hi"),)))

    assert "temperature" not in emulator.requests[-1].body


async def test_compatible_server_without_usage_yields_no_usage_event(
    emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script([text("ok")], include_usage=False))

    events = await collect(make("openai_compatible"), request("openai_compatible"))

    assert not [e for e in events if isinstance(e, Usage)]
    assert events[-1] == Finish("stop")


@pytest.mark.parametrize("kind", KINDS)
async def test_length_finish_is_normalized(kind: str, emulator: Emulator, make: ProviderFactory) -> None:
    emulator.enqueue(Script([text("cut")], finish="length"))

    events = await collect(make(kind), request(kind))

    assert events[-1] == Finish("length")


async def test_cancelling_a_slow_stream_stops_promptly(emulator: Emulator, make: ProviderFactory) -> None:
    emulator.enqueue(Script.slow("one two three four five six seven eight nine ten", tokens_per_second=5))
    provider = make("openai")
    stream = provider.stream(request("openai"))

    first = await asyncio.wait_for(anext(stream), timeout=5)
    await stream.aclose()

    assert first == TextDelta("one")


async def test_fifty_concurrent_streams(emulator: Emulator, make: ProviderFactory) -> None:
    provider = make("openai")

    async def one(i: int) -> str:
        convo = (Message("user", f"message {i}"),)
        events = await collect(provider, ChatRequest(model="gpt-4.1-mini", messages=convo))
        return "".join(e.text for e in events if isinstance(e, TextDelta))

    answers = await asyncio.gather(*(one(i) for i in range(50)))

    assert all(f'"message {i}"' in answer for i, answer in enumerate(answers))
