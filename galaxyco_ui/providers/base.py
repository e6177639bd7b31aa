"""One streaming chat interface for every model provider.

The executor talks only to ``ChatProvider.stream(request)``, which yields normalized
events and raises only ``ProviderError`` subclasses:

    ProviderError                     message fit for the run page; ``retryable``
    ├── ProviderAuthError             the key was rejected (401/403)
    ├── ProviderRateLimitError        429; ``retry_after`` seconds when the vendor says
    ├── ProviderTimeoutError          no answer in time (connect or read)
    ├── ProviderUnavailableError      5xx, overloaded, connection lost mid-stream
    ├── ProviderContextLengthError    the conversation is too long for the model
    └── ProviderBadRequestError       anything else the vendor refused (400/404/422)
        └── ProviderAddressError      the base URL's address is refused (``providers.http``)

Adapters (``openai_chat.py``, ``anthropic_chat.py``, ``google_chat.py``) map vendor
SDK exceptions onto this tree; ``retry.stream_with_retries`` retries the retryable ones with
bounded exponential backoff that honours ``retry_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run a tool; ``arguments`` already parsed from JSON.

    ``signature`` is the vendor's opaque proof of the reasoning behind the call, as base64
    text so it survives JSON (Gemini's ``thought_signature``: Gemini 3 refuses a follow-up
    turn whose function calls lack the signatures it sent). Adapters that get one send it
    back unchanged on the same call; the others ignore it. ``None`` when the vendor sent none.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn in provider-neutral form.

    - ``system``: instructions (adapters move it where the vendor wants it).
    - ``user``: ``content`` text.
    - ``assistant``: ``content`` text and/or ``tool_calls``.
    - ``tool``: the result of ``tool_call_id`` (``name`` is the tool's), as text.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, description and JSON Schema for arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float = 0.7
    max_output_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "other"]


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason


StreamEvent = TextDelta | ToolCallEvent | Usage | Finish


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What an adapter needs to reach a vendor: which one, the key, and an optional base URL."""

    provider: str  # "openai" | "anthropic" | "google" | "openai_compatible"
    api_key: str
    base_url: str = ""
    timeout_seconds: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)


class ChatProvider(Protocol):
    """A vendor adapter. ``stream`` yields events; a turn ends with ``Usage`` then ``Finish``."""

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- errors


class ProviderError(Exception):
    """A provider call failed. ``str(error)`` is a message fit to show on the run page."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status


class ProviderAuthError(ProviderError):
    pass


class ProviderRateLimitError(ProviderError):
    retryable = True

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    retryable = True


class ProviderUnavailableError(ProviderError):
    retryable = True


class ProviderContextLengthError(ProviderError):
    pass


class ProviderBadRequestError(ProviderError):
    pass


class ProviderAddressError(ProviderBadRequestError):
    """The base URL (or a redirect) points where GalaxyCo may not connect: loopback or
    private without ``ALLOWED_PRIVATE_PROVIDER_HOSTS``, link-local, cloud metadata, or
    another host than the base URL's. Raised before any connection; never retried."""
