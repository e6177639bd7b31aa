"""Anthropic chat over the official SDK (``messages.create(stream=True)``).

System messages go to the separate ``system`` parameter; tool results travel as
``tool_result`` blocks in a user turn (consecutive same-role turns are merged, as the
API wants alternating roles); ``tool_use`` input arrives as ``input_json_delta``
fragments and is parsed when its block stops. Usage: input from ``message_start``,
output from the last ``message_delta``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from galaxyco_ui.providers import errors
from galaxyco_ui.providers.base import (
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    ProviderConfig,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from galaxyco_ui.providers.http import sdk_http_client

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
# Models known to accept ``temperature`` (Claude 3.x, and 4 / 4.1 / 4.5 with or without a date).
_TAKES_TEMPERATURE = re.compile(r"^claude-(3|(sonnet|opus|haiku)-4(-[015])?($|-\d{8}|@))")
# Error types sent inside an otherwise successful (HTTP 200) stream.
_STREAM_ERROR_STATUS = {
    "overloaded_error": 529,
    "api_error": 500,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
}


def to_anthropic_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]]:
    """Map neutral messages to ``(system, messages)`` for the Messages API."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        if m.role == "tool":
            role = "user"
            blocks.append({"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content})
        else:
            role = m.role
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls
            )
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


class AnthropicChat:
    """``ChatProvider`` for Anthropic.

    Args:
        config: API key, optional base URL, timeout. SDK retries are off.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._provider = config.provider or "anthropic"
        self._api_key = config.api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key,
            base_url=config.base_url or None,
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=sdk_http_client(config.timeout_seconds, provider=config.provider),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = to_anthropic_messages(request.messages)
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_output_tokens,
            "stream": True,
        }
        if _TAKES_TEMPERATURE.match(request.model):
            # anthropic 2.x no longer has a ``temperature`` argument; these models still take it.
            params["extra_body"] = {"temperature": request.temperature}
        if system:
            params["system"] = system
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        return params

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model turn.

        Yields:
            ``TextDelta`` per text delta, a ``ToolCallEvent`` per finished ``tool_use``
            block, ``Usage``, then ``Finish``.

        Raises:
            ProviderError: the subclass matching the failure (see ``base.py``).
        """
        started = False
        try:
            stream = await self._client.messages.create(**self._params(request))
            async with stream:
                input_tokens = output_tokens = 0
                stop_reason: str | None = None
                tools: dict[int, tuple[str, str, list[str]]] = {}
                finished = False
                async for event in stream:
                    if event.type == "message_start":
                        u = event.message.usage
                        input_tokens = (
                            (u.input_tokens or 0)
                            + (getattr(u, "cache_creation_input_tokens", 0) or 0)
                            + (getattr(u, "cache_read_input_tokens", 0) or 0)
                        )
                        output_tokens = u.output_tokens or 0
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            tools[event.index] = (block.id, block.name, [])
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            started = True
                            yield TextDelta(delta.text)
                        elif delta.type == "input_json_delta" and event.index in tools:
                            started = True
                            tools[event.index][2].append(delta.partial_json)
                    elif event.type == "content_block_stop" and event.index in tools:
                        call_id, name, parts = tools.pop(event.index)
                        arguments = errors.parse_tool_arguments("".join(parts), self._provider)
                        yield ToolCallEvent(ToolCall(call_id, name, arguments))
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        if event.usage is not None:
                            output_tokens = event.usage.output_tokens or output_tokens
                            if getattr(event.usage, "input_tokens", None):
                                input_tokens = event.usage.input_tokens
                    elif event.type == "message_stop":
                        finished = True
            if not finished:
                raise errors.unavailable_error(self._provider, lost=True)
            yield Usage(input_tokens, output_tokens)
            yield Finish(_STOP.get(stop_reason or "", "other"))
        except ProviderError:
            raise
        except anthropic.APIStatusError as exc:
            raise self._map_status(exc) from None
        except anthropic.APITimeoutError:
            raise errors.timeout_error(self._provider) from None
        except anthropic.APIConnectionError as exc:
            raise errors.connection_error(self._provider, exc, started=started) from None
        except Exception as exc:
            mapped = errors.from_transport(self._provider, exc, started=started)
            if mapped is None:
                raise
            raise mapped from None

    def _map_status(self, exc: anthropic.APIStatusError) -> ProviderError:
        body = exc.body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        kind = error.get("type", "") if isinstance(error, dict) else ""
        status = exc.status_code
        if status < 400:  # an error event inside a 200 stream: use its type
            status = _STREAM_ERROR_STATUS.get(kind, 500)
        message = errors.body_message(body) or exc.message
        lowered = message.lower()
        context = (
            "prompt is too long" in lowered or "context window" in lowered or "context length" in lowered
        )
        return errors.from_status(
            self._provider,
            status,
            vendor_message=message,
            headers=exc.response.headers if status == exc.status_code else None,
            api_key=self._api_key,
            context_length=context,
        )
