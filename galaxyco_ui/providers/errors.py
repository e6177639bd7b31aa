"""Shared pieces of the vendor error → ``ProviderError`` mapping.

Each adapter knows how to read its SDK's exceptions; this module turns what it read
(an HTTP status, the vendor's message, response headers, a transport failure) into the
right ``ProviderError`` subclass with a message fit for the run page. Messages name the
provider by its catalog label and never contain the API key.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import httpx2

from galaxyco_ui.providers.base import (
    ProviderAddressError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderContextLengthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from galaxyco_ui.providers.catalog import PROVIDER_LABELS

# google-genai uses the classic httpx, the other SDKs httpx2: both families are mapped.
_TIMEOUT_TYPES: tuple[type[BaseException], ...] = (
    httpx2.TimeoutException,
    httpx.TimeoutException,
    TimeoutError,
)
_TRANSPORT_TYPES: tuple[type[BaseException], ...] = (
    httpx2.TransportError,
    httpx.TransportError,
    ConnectionError,
)

_MAX_VENDOR_MESSAGE = 300


def label(provider: str) -> str:
    """Return the provider's display name from the catalog (the key itself if unknown)."""
    return PROVIDER_LABELS.get(provider, provider)


def redact(text: str, api_key: str) -> str:
    """Remove the API key from ``text`` and cap its length for display."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "***")
    text = " ".join(text.split())
    if len(text) > _MAX_VENDOR_MESSAGE:
        text = text[: _MAX_VENDOR_MESSAGE - 1] + "…"
    return text


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Read how long the vendor asks us to wait, in seconds.

    Args:
        headers: response headers (case-insensitive mapping, e.g. ``httpx2.Headers``).

    Returns:
        Seconds from ``retry-after-ms`` (preferred, it is more precise) or
        ``retry-after`` (seconds or an HTTP date); ``None`` when absent or unreadable.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def auth_error(provider: str, status: int | None) -> ProviderAuthError:
    """The key was rejected (or lacks permission)."""
    return ProviderAuthError(
        f"{label(provider)} rejected the API key — update it in Settings → Providers.",
        provider=provider,
        status=status,
    )


def rate_limit_error(provider: str, status: int | None, retry_after: float | None) -> ProviderRateLimitError:
    """The vendor is throttling us; ``retry_after`` in seconds when it said so."""
    hint = f" — retry in {retry_after:.0f} s" if retry_after is not None else " — try again shortly"
    return ProviderRateLimitError(
        f"{label(provider)} is rate-limiting requests{hint}.",
        provider=provider,
        status=status,
        retry_after=retry_after,
    )


def timeout_error(provider: str, status: int | None = None) -> ProviderTimeoutError:
    """No answer in time."""
    return ProviderTimeoutError(
        f"{label(provider)} did not answer in time.", provider=provider, status=status
    )


def unavailable_error(
    provider: str, status: int | None = None, *, lost: bool = False
) -> ProviderUnavailableError:
    """Server error, overload, or a connection that failed or broke mid-answer."""
    if lost:
        text = f"The connection to {label(provider)} was lost before the answer was complete — try again."
    elif status is None:
        text = f"Could not reach {label(provider)} — check the base URL or try again later."
    else:
        text = f"{label(provider)} is unavailable right now (HTTP {status}) — try again later."
    return ProviderUnavailableError(text, provider=provider, status=status)


def connection_error(provider: str, exc: BaseException, *, started: bool) -> ProviderError:
    """An SDK's "connection failed": the address refusal behind it, or unavailable.

    Anthropic wraps whatever its HTTP client raised in ``APIConnectionError``; a
    ``ProviderAddressError`` from ``http.VettedTransport`` is then its ``__cause__``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ProviderAddressError):
            current.provider = current.provider or provider
            return current
        seen.add(id(current))
        current = current.__cause__
    return unavailable_error(provider, lost=started)


def context_length_error(provider: str, status: int | None) -> ProviderContextLengthError:
    """The conversation does not fit the model's context window."""
    return ProviderContextLengthError(
        f"The conversation is too long for this {label(provider)} model — shorten it or choose a model with a larger context window.",
        provider=provider,
        status=status,
    )


def bad_request_error(
    provider: str, status: int | None, vendor_message: str, api_key: str
) -> ProviderBadRequestError:
    """Anything else the vendor refused; quotes its (redacted) explanation."""
    detail = redact(vendor_message, api_key) or "no details given"
    code = f" (HTTP {status})" if status else ""
    return ProviderBadRequestError(
        f"{label(provider)} refused the request{code}: {detail}", provider=provider, status=status
    )


def from_status(
    provider: str,
    status: int,
    *,
    vendor_message: str,
    headers: Mapping[str, str] | None,
    api_key: str,
    context_length: bool = False,
    retry_after: float | None = None,
) -> ProviderError:
    """Map an HTTP error status to the provider error tree.

    Args:
        provider: provider key (``openai``, ``anthropic``, ...).
        status: HTTP status code of the failed response.
        vendor_message: the vendor's own explanation (shown, redacted, for bad requests).
        headers: response headers, for ``retry-after``.
        api_key: the key in use, so it can be scrubbed from any message.
        context_length: the adapter recognised a context-window error in the body.
        retry_after: a delay the adapter found in the body, used if no header gives one.

    Returns:
        The ``ProviderError`` to raise.
    """
    if status in (401, 403):
        return auth_error(provider, status)
    if status == 429:
        wait = parse_retry_after(headers)
        return rate_limit_error(provider, status, wait if wait is not None else retry_after)
    if status in (408, 504):
        return timeout_error(provider, status)
    if status >= 500:
        return unavailable_error(provider, status)
    if context_length:
        return context_length_error(provider, status)
    return bad_request_error(provider, status, vendor_message, api_key)


def from_transport(provider: str, exc: BaseException, *, started: bool) -> ProviderError | None:
    """Map a raw network failure (httpx/httpx2/OS) to a provider error.

    Args:
        provider: provider key.
        exc: the exception raised by the HTTP stack.
        started: whether part of the answer had already arrived (a mid-stream loss).

    Returns:
        The mapped error, or ``None`` when ``exc`` is not a transport failure.
    """
    if isinstance(exc, _TIMEOUT_TYPES):
        return timeout_error(provider)
    if isinstance(exc, _TRANSPORT_TYPES):
        return unavailable_error(provider, lost=started)
    return None


def body_message(body: Any) -> str:
    """Extract a human message from a vendor JSON error body (``{"error": {"message": ...}}``)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        for holder in (inner, body):
            message = holder.get("message") if isinstance(holder, dict) else None
            if isinstance(message, str):
                return message
    if isinstance(body, str):
        return body
    return ""


def parse_tool_arguments(raw: str, provider: str) -> dict[str, Any]:
    """Decode a tool call's streamed JSON arguments (empty means no arguments).

    Raises:
        ProviderBadRequestError: the model produced invalid JSON, or JSON that is not an object.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderBadRequestError("The model returned malformed tool arguments", provider=provider)
    return value
