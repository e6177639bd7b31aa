"""OpenAI (and OpenAI-compatible: Ollama, vLLM, LM Studio) chat over the official SDK.

Streams ``chat.completions`` with ``stream_options.include_usage``, through the SDK's
client but reading each chunk as plain JSON (no SDK model per chunk). Tool calls arrive as
index-keyed fragments and are emitted whole, arguments parsed, when the model finishes.
An OpenAI-compatible server that sends no usage chunk gets no ``Usage`` event: the run's
token counts and cost are then unknown (never reported as zero).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai

from galaxyco_ui.providers import errors
from galaxyco_ui.providers.base import (
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    ProviderBadRequestError,
    ProviderConfig,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from galaxyco_ui.providers.http import sdk_http_client

# Reasoning models accept only the default temperature.
_FIXED_TEMPERATURE = re.compile(r"^(o\d|gpt-5)")
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def to_openai_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Map neutral messages to Chat Completions messages."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for c in m.tool_calls
                ]
            out.append(item)
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _objects(value: object) -> list[dict[str, Any]]:
    """The JSON objects of a chunk's list field (``choices``, ``tool_calls``); none if absent."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class OpenAIChat:
    """``ChatProvider`` for ``openai`` and ``openai_compatible`` configs.

    Args:
        config: provider key, API key, base URL (required for ``openai_compatible``),
            timeout. The SDK's own retries are off: ``stream_with_retries`` owns them.

    Raises:
        ProviderBadRequestError: an OpenAI-compatible config without a base URL.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._provider = config.provider
        self._api_key = config.api_key
        if config.provider == "openai_compatible" and not config.base_url:
            raise ProviderBadRequestError(
                "An OpenAI-compatible provider needs a base URL (e.g. http://localhost:11434/v1) — set it in Settings → Providers.",
                provider=config.provider,
            )
        self._client = openai.AsyncOpenAI(
            # Local servers often need no key, but the SDK insists on one.
            api_key=config.api_key or "not-needed",
            base_url=config.base_url or None,
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=sdk_http_client(config.timeout_seconds, provider=config.provider),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": to_openai_messages(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self._provider == "openai":
            params["max_completion_tokens"] = request.max_output_tokens
            if not _FIXED_TEMPERATURE.match(request.model):
                params["temperature"] = request.temperature
        else:
            params["max_tokens"] = request.max_output_tokens
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        return params

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model turn.

        Yields:
            ``TextDelta`` per content delta, a ``ToolCallEvent`` per completed call,
            ``Usage`` (when the server reports it), then ``Finish``.

        Raises:
            ProviderError: the subclass matching the failure (see ``base.py``).
        """
        started = False
        try:
            # The SDK's own request and SSE handling (status errors, error events, draining),
            # but each chunk stays the JSON object it arrived as: building a pydantic model
            # per chunk (``chat.completions.create``) was two thirds of a streamed token's
            # CPU (bench/README.md, P3 and "Where the time goes").
            stream = await self._client.post(
                "/chat/completions",
                body=self._params(request),
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async with stream:
                calls: dict[int, _PartialCall] = {}
                usage: Usage | None = None
                finish: str | None = None
                async for chunk in stream:
                    if not isinstance(chunk, dict):
                        continue
                    if isinstance(counts := chunk.get("usage"), dict):
                        usage = Usage(counts.get("prompt_tokens") or 0, counts.get("completion_tokens") or 0)
                    for choice in _objects(chunk.get("choices")):
                        delta = choice.get("delta")
                        delta = delta if isinstance(delta, dict) else {}
                        if (content := delta.get("content")) and isinstance(content, str):
                            started = True
                            yield TextDelta(content)
                        for frag in _objects(delta.get("tool_calls")):
                            started = True
                            index = frag.get("index")
                            # Some compatible servers send whole calls without an index.
                            if not isinstance(index, int):
                                index = len(calls) if frag.get("id") or not calls else max(calls)
                            call = calls.setdefault(index, _PartialCall())
                            call.id = call.id or str(frag.get("id") or "")
                            if isinstance(function := frag.get("function"), dict):
                                call.name = call.name or str(function.get("name") or "")
                                call.arguments.append(str(function.get("arguments") or ""))
                        if choice.get("finish_reason"):
                            finish = str(choice["finish_reason"])
            if finish is None:
                raise errors.unavailable_error(self._provider, lost=True)
            for index in sorted(calls):
                call = calls[index]
                arguments = errors.parse_tool_arguments("".join(call.arguments), self._provider)
                yield ToolCallEvent(ToolCall(call.id or f"call_{index}", call.name, arguments))
            if usage is not None:
                yield usage
            reason = _FINISH.get(finish, "other")
            yield Finish("tool_calls" if calls and reason == "stop" else reason)
        except ProviderError:
            raise
        except openai.APIStatusError as exc:
            raise self._map_status(exc) from None
        except openai.APITimeoutError:
            raise errors.timeout_error(self._provider) from None
        except openai.APIConnectionError as exc:
            raise errors.connection_error(self._provider, exc, started=started) from None
        except openai.APIError as exc:  # an error event inside the stream
            raise errors.unavailable_error(self._provider, lost=started) from exc
        except Exception as exc:
            mapped = errors.from_transport(self._provider, exc, started=started)
            if mapped is None:
                raise
            raise mapped from None

    def _map_status(self, exc: openai.APIStatusError) -> ProviderError:
        message = errors.body_message(exc.body) or exc.message
        lowered = message.lower()
        context = (
            exc.code in _CONTEXT_CODES or "maximum context length" in lowered or "context window" in lowered
        )
        return errors.from_status(
            self._provider,
            exc.status_code,
            vendor_message=message,
            headers=exc.response.headers,
            api_key=self._api_key,
            context_length=context,
        )
