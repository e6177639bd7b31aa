"""stream_with_retries: retry what is safe to retry, never replay a partial answer."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text
from galaxyco_ui.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderUnavailableError,
    StreamEvent,
    TextDelta,
)
from galaxyco_ui.providers.retry import backoff_delay, stream_with_retries
from tests.providers.conftest import ProviderFactory

REQUEST = ChatRequest(model="gpt-4.1-mini", messages=(Message("user", "hi"),))


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ScriptedProvider:
    """Each attempt either raises an error (possibly after some events) or streams events."""

    def __init__(self, *attempts: tuple[list[StreamEvent], ProviderError | None]) -> None:
        self.attempts = list(attempts)
        self.calls = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        events, error = self.attempts[min(self.calls, len(self.attempts) - 1)]
        self.calls += 1
        for event in events:
            yield event
        if error is not None:
            raise error

    async def aclose(self) -> None:
        pass


async def drain(provider: object, sleep: FakeSleep, **kw: float) -> list[StreamEvent]:
    return [e async for e in stream_with_retries(provider, REQUEST, sleep=sleep, **kw)]  # type: ignore[arg-type]


async def test_a_429_is_retried_after_retry_after_then_succeeds(
    emulator: Emulator, make: ProviderFactory
) -> None:
    emulator.enqueue(Script.error(429, retry_after=3))
    emulator.enqueue(Script([text("made it")]))
    sleep = FakeSleep()

    events = await drain(make("openai"), sleep)

    assert sleep.calls == [3]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "made it"
    assert events[-1] == Finish("stop")
    assert len(emulator.requests) == 2


async def test_retry_after_is_capped_at_max_delay() -> None:
    provider = ScriptedProvider(
        ([], ProviderRateLimitError("slow down", retry_after=600)), ([Finish("stop")], None)
    )
    sleep = FakeSleep()

    await drain(provider, sleep, max_delay=20)

    assert sleep.calls == [20]


async def test_a_partial_stream_is_never_replayed() -> None:
    provider = ScriptedProvider(
        ([TextDelta("half")], ProviderUnavailableError("lost")), ([Finish("stop")], None)
    )
    sleep = FakeSleep()
    seen: list[StreamEvent] = []

    with pytest.raises(ProviderUnavailableError):
        async for event in stream_with_retries(provider, REQUEST, sleep=sleep):  # type: ignore[arg-type]
            seen.append(event)

    assert seen == [TextDelta("half")]
    assert provider.calls == 1
    assert sleep.calls == []


async def test_gives_up_after_the_attempts(emulator: Emulator, make: ProviderFactory) -> None:
    for _ in range(3):
        emulator.enqueue(Script.error(500))
    sleep = FakeSleep()

    with pytest.raises(ProviderUnavailableError):
        await drain(make("anthropic"), sleep, attempts=3, base_delay=0.5)

    assert len(emulator.requests) == 3
    assert len(sleep.calls) == 2
    assert all(0 < s <= 1.0 for s in sleep.calls)  # jittered, within 0.5 * 2**n


async def test_auth_errors_are_not_retried(make: ProviderFactory, emulator: Emulator) -> None:
    sleep = FakeSleep()

    with pytest.raises(ProviderAuthError):
        await drain(make("google", api_key="bad-key"), sleep)

    assert len(emulator.requests) == 1
    assert sleep.calls == []


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    rng = random.Random(7)
    error = ProviderUnavailableError("x")
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 20.0)]:
        for _ in range(20):
            delay = backoff_delay(attempt, error, base_delay=0.5, max_delay=20.0, rng=rng)
            assert 0.05 <= delay <= ceiling
