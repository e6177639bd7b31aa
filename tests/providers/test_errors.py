"""Vendor failures become the right ProviderError, with a friendly message and no key."""

from __future__ import annotations

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text
from galaxyco_ui.providers import errors
from galaxyco_ui.providers.base import (
    ChatRequest,
    Message,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConfig,
    ProviderContextLengthError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    TextDelta,
)
from galaxyco_ui.providers.catalog import PROVIDER_LABELS
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.google_chat import _retry_delay
from tests.providers.conftest import KINDS, MODELS, ProviderFactory, collect


def request(kind: str) -> ChatRequest:
    return ChatRequest(model=MODELS[kind], messages=(Message("user", "hello"),))


@pytest.mark.parametrize("kind", KINDS)
async def test_rejected_key_is_an_auth_error_with_a_friendly_message(
    kind: str, make: ProviderFactory
) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await collect(make(kind, api_key="bad-key"), request(kind))

    message = str(caught.value)
    assert message == f"{PROVIDER_LABELS[kind]} rejected the API key — update it in Settings → Providers."
    assert "bad-key" not in message
    assert caught.value.status == 401
    assert caught.value.provider == kind
    assert not caught.value.retryable


@pytest.mark.parametrize("kind", KINDS)
async def test_429_is_a_rate_limit_error_carrying_retry_after(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(429, retry_after=7))

    with pytest.raises(ProviderRateLimitError) as caught:
        await collect(make(kind), request(kind))

    assert caught.value.retry_after == 7
    assert caught.value.retryable
    assert PROVIDER_LABELS[kind] in str(caught.value)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_retry_after_ms_wins_over_retry_after(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(429, retry_after=7, retry_after_ms=1500))

    with pytest.raises(ProviderRateLimitError) as caught:
        await collect(make(kind), request(kind))

    assert caught.value.retry_after == 1.5


def test_gemini_retry_info_in_the_body_is_used_when_no_header_says() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}],
        }
    }

    delay = _retry_delay(body)
    error = errors.from_status("google", 429, vendor_message="", headers={}, api_key="k", retry_after=delay)

    assert isinstance(error, ProviderRateLimitError)
    assert error.retry_after == 4


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(
    kind: str, status: int, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(status))

    with pytest.raises(ProviderUnavailableError) as caught:
        await collect(make(kind), request(kind))

    assert caught.value.status == status
    assert caught.value.retryable


async def test_anthropic_overloaded_529_is_unavailable(emulator: Emulator, make: ProviderFactory) -> None:
    emulator.enqueue(Script.error(529))

    with pytest.raises(ProviderUnavailableError):
        await collect(make("anthropic"), request("anthropic"))


@pytest.mark.parametrize("kind", KINDS)
async def test_mid_stream_disconnect_is_unavailable_after_the_partial_text(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script([text("one two three four five six seven eight")], disconnect_after=3))
    seen: list[str] = []

    with pytest.raises(ProviderUnavailableError) as caught:
        async for event in make(kind).stream(request(kind)):
            if isinstance(event, TextDelta):
                seen.append(event.text)

    assert seen  # part of the answer arrived before the connection dropped
    assert "lost" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_context_window_errors_are_recognised(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(400, code="context_length"))

    with pytest.raises(ProviderContextLengthError):
        await collect(make(kind), request(kind))


@pytest.mark.parametrize("kind", KINDS)
async def test_other_4xx_is_a_bad_request_quoting_the_vendor(
    kind: str, emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(404, message="model nope-1 does not exist"))

    with pytest.raises(ProviderBadRequestError) as caught:
        await collect(make(kind), request(kind))

    assert "model nope-1 does not exist" in str(caught.value)
    assert caught.value.status == 404


async def test_unreachable_server_is_unavailable() -> None:
    provider = make_provider(
        ProviderConfig("openai", "k", base_url="http://127.0.0.1:9/v1", timeout_seconds=2)
    )
    try:
        with pytest.raises(ProviderUnavailableError) as caught:
            await collect(provider, request("openai"))
        assert "Could not reach OpenAI" in str(caught.value)
    finally:
        await provider.aclose()


async def test_slow_server_times_out(emulator: Emulator, make: ProviderFactory) -> None:
    emulator.enqueue(Script.slow("a b c d e f g h i j", tokens_per_second=1))

    with pytest.raises(ProviderTimeoutError):
        await collect(make("anthropic", timeout=0.3), request("anthropic"))


def test_vendor_messages_are_scrubbed_of_the_key() -> None:
    error = errors.bad_request_error("openai", 400, "key sk-secret-123 is not allowed here", "sk-secret-123")

    assert "sk-secret-123" not in str(error)
    assert "***" in str(error)


def test_malformed_tool_arguments_are_a_bad_request() -> None:
    assert errors.parse_tool_arguments("", "openai") == {}
    assert errors.parse_tool_arguments('{"a": 1}', "openai") == {"a": 1}
    for raw in ('{"a": ', "[1, 2]"):
        with pytest.raises(ProviderBadRequestError, match="The model returned malformed tool arguments"):
            errors.parse_tool_arguments(raw, "openai")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert errors.parse_retry_after(headers) == expected
