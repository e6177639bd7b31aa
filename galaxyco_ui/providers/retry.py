"""Retrying a provider stream without ever replaying part of an answer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from galaxyco_ui.providers.base import (
    ChatProvider,
    ChatRequest,
    ProviderError,
    ProviderRateLimitError,
    StreamEvent,
)

Sleep = Callable[[float], Awaitable[object]]


def backoff_delay(
    attempt: int,
    error: ProviderError,
    *,
    base_delay: float,
    max_delay: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    The vendor's ``retry_after`` wins when given (capped at ``max_delay``); otherwise
    full-jitter exponential backoff: uniform in ``[0, min(max_delay, base * 2**(attempt-1))]``
    with a small floor so retries never spin.
    """
    if isinstance(error, ProviderRateLimitError) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), max_delay)
    ceiling = min(max_delay, base_delay * (2 ** (attempt - 1)))
    return max(base_delay / 10, (rng or random).uniform(0, ceiling))


async def stream_with_retries(
    provider: ChatProvider,
    request: ChatRequest,
    *,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[StreamEvent]:
    """Stream ``request``, retrying retryable failures that happen before the first event.

    Args:
        provider: the adapter to call.
        request: the turn to stream.
        attempts: total tries, the first included.
        base_delay: first backoff ceiling in seconds (doubles each retry).
        max_delay: cap for any wait, including a vendor's ``retry_after``.
        sleep: awaitable sleep (injected by tests).

    Yields:
        The provider's events, exactly once each.

    Raises:
        ProviderError: a non-retryable error; a retryable one after ``attempts`` tries;
            or any error once part of the answer was yielded (a partial stream is never
            replayed: the caller already showed or stored it).
    """
    attempt = 0
    while True:
        attempt += 1
        yielded = False
        events = provider.stream(request)
        try:
            async for event in events:
                yielded = True
                yield event
            return
        except ProviderError as error:
            if yielded or not error.retryable or attempt >= attempts:
                raise
            failure = error
        finally:
            # Close the adapter's stream (and its HTTP response) even when our consumer
            # stops early, e.g. a cancelled run.
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        await sleep(backoff_delay(attempt, failure, base_delay=base_delay, max_delay=max_delay))
