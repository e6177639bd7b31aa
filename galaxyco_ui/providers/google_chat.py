"""Google Gemini chat over ``google-genai`` (``client.aio.models.generate_content_stream``).

The SDK streams from ``/{api_version}/models/{model}:streamGenerateContent?alt=sse``
(``v1`` by default; ``config.extra["api_version"]`` may pick ``v1beta``). Gemini sends
whole function calls (no fragments) and, on the Gemini API, usually no call ids: ids are
synthesized per turn as ``call_{index}``; tool results go back as ``functionResponse``
parts matched by function name. Thinking tokens are billed as output, so they are
added to ``Usage.output_tokens``.

Thought signatures: Gemini 3 puts a ``thoughtSignature`` (bytes) on the first function-call
part of each response and refuses (400) a next request whose function calls of the current
turn come back without it, or altered. The adapter keeps it on ``ToolCall.signature`` as
base64 text and sends it back on the same function-call part; the executor stores it with
the model step, so a resumed run rebuilds the same history. Signatures on text parts (sent
with answers that call no tool) are not kept: the API does not require them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from typing import Any, cast

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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
from galaxyco_ui.providers.http import sdk_http_client, sdk_sync_http_client

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_DELAY = re.compile(r"^([\d.]+)s$")


def to_gemini_contents(messages: tuple[Message, ...]) -> tuple[str, list[types.Content]]:
    """Map neutral messages to ``(system_instruction, contents)``.

    A tool result's function name comes from ``Message.name`` or, when empty, from the
    assistant tool call with the same id. Consecutive same-role turns are merged.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents: list[types.Content] = []
    for m in messages:
        if m.role == "system":
            continue
        parts: list[types.Part] = []
        if m.role == "tool":
            role = "user"
            name = m.name or names.get(m.tool_call_id, "")
            parts.append(types.Part.from_function_response(name=name, response={"result": m.content}))
        else:
            role = "model" if m.role == "assistant" else "user"
            if m.content:
                parts.append(types.Part.from_text(text=m.content))
            parts.extend(_function_call_part(c) for c in m.tool_calls)
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.extend(parts)
        else:
            contents.append(types.Content(role=role, parts=parts))
    return system, contents


def _function_call_part(call: ToolCall) -> types.Part:
    """A ``functionCall`` part with the call's thought signature, if it had one.

    A signature that is not base64 (it never comes from Gemini so) is sent as missing:
    Gemini then says which call lacks one, instead of the adapter failing obscurely.
    """
    part = types.Part.from_function_call(name=call.name, args=call.arguments)
    if call.signature:
        with suppress(binascii.Error, ValueError):
            part.thought_signature = base64.b64decode(call.signature, validate=True)
    return part


def _signature_text(signature: bytes | None) -> str | None:
    return base64.b64encode(signature).decode("ascii") if signature else None


def _retry_delay(details: Any) -> float | None:
    """Read ``google.rpc.RetryInfo.retryDelay`` (e.g. ``"7s"``) from an error body."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in (error.get("details") if isinstance(error, dict) else None) or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


class GoogleChat:
    """``ChatProvider`` for Google Gemini (the Gemini API with an API key).

    Args:
        config: API key, optional base URL, timeout; ``extra["api_version"]`` optional.
            SDK retries are off.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._provider = config.provider or "google"
        self._api_key = config.api_key
        # Our clients, not the SDK's: every request goes through the vetted transport
        # (``providers.http``); the SDK does not close clients it was given.
        self._http = sdk_http_client(config.timeout_seconds, provider=self._provider)
        self._sync_http = sdk_sync_http_client()
        http_options = types.HttpOptions(
            base_url=config.base_url or None,
            api_version=config.extra.get("api_version") or None,
            timeout=int(config.timeout_seconds * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._http,
            httpx_client=self._sync_http,
        )
        self._client = genai.Client(api_key=config.api_key, http_options=http_options)

    async def aclose(self) -> None:
        """Close the SDK client and our HTTP clients."""
        await self._client.aio.aclose()
        self._client.close()
        await self._http.aclose()
        self._sync_http.close()

    def _config(self, request: ChatRequest, system: str) -> types.GenerateContentConfig:
        tools = None
        if request.tools:
            declarations = [
                types.FunctionDeclaration(
                    name=t.name, description=t.description, parameters_json_schema=t.parameters
                )
                for t in request.tools
            ]
            tools = [types.Tool(function_declarations=declarations)]
        return types.GenerateContentConfig(
            system_instruction=system or None,
            tools=tools,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model turn.

        Yields:
            ``TextDelta`` per text part, a ``ToolCallEvent`` per function call, ``Usage``,
            then ``Finish``.

        Raises:
            ProviderError: the subclass matching the failure (see ``base.py``).
        """
        started = False
        system, contents = to_gemini_contents(request.messages)
        try:
            # Annotated as an AsyncIterator, the stream is the SDK's async generator: closing
            # it early (aclosing) ends the HTTP response instead of leaving it to the GC.
            stream = cast(
                "AsyncGenerator[types.GenerateContentResponse, None]",
                await self._client.aio.models.generate_content_stream(
                    model=request.model, contents=contents, config=self._config(request, system)
                ),
            )
            calls = 0
            usage: Usage | None = None
            finish: str | None = None
            blocked = False
            async with aclosing(stream) as chunks:
                async for chunk in chunks:
                    if chunk.usage_metadata is not None:
                        meta = chunk.usage_metadata
                        output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
                        usage = Usage(meta.prompt_token_count or 0, output)
                    if chunk.prompt_feedback is not None and chunk.prompt_feedback.block_reason:
                        blocked = True
                    for candidate in (chunk.candidates or [])[:1]:
                        for part in (candidate.content.parts if candidate.content else None) or []:
                            if part.thought:
                                continue
                            if part.text:
                                started = True
                                yield TextDelta(part.text)
                            if part.function_call is not None:
                                started = True
                                call = part.function_call
                                call_id = call.id or f"call_{calls}"
                                calls += 1
                                signature = _signature_text(part.thought_signature)
                                yield ToolCallEvent(
                                    ToolCall(call_id, call.name or "", dict(call.args or {}), signature)
                                )
                        if candidate.finish_reason:
                            finish = str(getattr(candidate.finish_reason, "value", candidate.finish_reason))
            if finish == "MALFORMED_FUNCTION_CALL":
                raise ProviderBadRequestError(
                    "The model returned malformed tool arguments", provider=self._provider
                )
            if finish is None and not blocked:
                raise errors.unavailable_error(self._provider, lost=True)
            if usage is not None:
                yield usage
            reason: FinishReason = "content_filter" if blocked else _FINISH.get(finish or "", "other")
            yield Finish("tool_calls" if calls and reason == "stop" else reason)
        except ProviderError:
            raise
        except genai_errors.APIError as exc:
            raise self._map_status(exc) from None
        except Exception as exc:
            mapped = errors.from_transport(self._provider, exc, started=started)
            if mapped is None:
                raise
            raise mapped from None

    def _map_status(self, exc: genai_errors.APIError) -> ProviderError:
        status = int(exc.code or 500)
        message = exc.message or str(exc.status or "")
        text = f"{message} {exc.details}".lower()
        if status == 400 and "api_key_invalid" in text:  # Gemini's answer to a bad key
            status = 401
        context = "exceeds the maximum number of tokens" in text or (
            "token count" in text and "exceed" in text
        )
        headers = getattr(exc.response, "headers", None)
        return errors.from_status(
            self._provider,
            status,
            vendor_message=message,
            headers=headers,
            api_key=self._api_key,
            context_length=context,
            retry_after=_retry_delay(exc.details),
        )
