"""Retrying a provider stream without ever replaying part of an answer."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from galaxyco_ui.infra import metrics
from galaxyco_ui.providers.base import (
    ChatProvider,
    ChatRequest,
    ProviderAddressError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderContextLengthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    StreamEvent,
)

Sleep = Callable[[float], Awaitable[object]]

# The metric label of each error class, most specific first.
_ERROR_KINDS: tuple[tuple[type[ProviderError], str], ...] = (
    (ProviderAddressError, "address"),
    (ProviderAuthError, "auth"),
    (ProviderRateLimitError, "rate_limit"),
    (ProviderTimeoutError, "timeout"),
    (ProviderUnavailableError, "unavailable"),
    (ProviderContextLengthError, "context_length"),
    (ProviderBadRequestError, "bad_request"),
)


def error_kind(error: ProviderError) -> str:
    """A short, closed-set name for ``error``'s class (``other`` for the base class)."""
    return next((kind for cls, kind in _ERROR_KINDS if isinstance(error, cls)), "other")


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
    provider_name: str = "",
) -> AsyncIterator[StreamEvent]:
    """Stream ``request``, retrying retryable failures that happen before the first event.

    Args:
        provider: the adapter to call.
        request: the turn to stream.
        attempts: total tries, the first included.
        base_delay: first backoff ceiling in seconds (doubles each retry).
        max_delay: cap for any wait, including a vendor's ``retry_after``.
        sleep: awaitable sleep (injected by tests).
        provider_name: the vendor key (``openai``...) for the metrics: time to the first
            event (waits between retries included) and every failed attempt by kind.

    Yields:
        The provider's events, exactly once each.

    Raises:
        ProviderError: a non-retryable error; a retryable one after ``attempts`` tries;
            or any error once part of the answer was yielded (a partial stream is never
            replayed: the caller already showed or stored it).
    """
    attempt = 0
    began = time.monotonic()
    while True:
        attempt += 1
        yielded = False
        events = provider.stream(request)
        try:
            async for event in events:
                if not yielded:
                    metrics.first_token(provider_name, time.monotonic() - began)
                yielded = True
                yield event
            return
        except ProviderError as error:
            metrics.provider_error(error.provider or provider_name, error_kind(error))
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
