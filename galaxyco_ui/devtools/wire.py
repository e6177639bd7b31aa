"""The three vendors' wire formats, as the emulator speaks them.

Each ``Wire`` reads a request body into a neutral conversation (to find the user's last
message), and renders a ``Plan`` as the vendor's streaming frames (SSE events), as a
non-streaming JSON body, or as the vendor's JSON error. ``OpenAIWire.embeddings`` and
``GoogleWire.embeddings`` answer embedding requests with ``hashed_embedding`` vectors.
``GoogleWire`` also plays Gemini 3's thought signatures (see ``GoogleWire.signature_error``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from galaxyco_ui.devtools.script import Chunk, ErrorSpec, Plan, ToolCallStep

Vendor = Literal["openai", "anthropic", "google"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One conversation turn in neutral form: ``user``, ``assistant`` or ``tool`` (a result)."""

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One streamed chunk: bytes to send after waiting ``delay`` seconds."""

    data: bytes
    delay: float = 0.0


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _fragments(arguments: dict[str, Any], parts: int = 3) -> list[str]:
    """Split a tool call's JSON arguments into fragments, as vendors stream them."""
    raw = json.dumps(arguments)
    size = max(1, -(-len(raw) // parts))
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _error_headers(spec: ErrorSpec) -> dict[str, str]:
    headers: dict[str, str] = {}
    if spec.retry_after is not None:
        headers["retry-after"] = f"{spec.retry_after:g}"
    if spec.retry_after_ms is not None:
        headers["retry-after-ms"] = str(spec.retry_after_ms)
    return headers


# ---------------------------------------------------------------- Embeddings

_EMBED_WORD = re.compile(r"[^\W_]+")


def word_feature(word: str, dimensions: int) -> tuple[int, float]:
    """Where one lowercase word lands in a hashed embedding: (index, +1.0 or -1.0)."""
    value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return value % dimensions, 1.0 if (value >> 63) & 1 else -1.0


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic stand-in for a real embedding: a feature-hashed bag of words.

    Each lowercase word adds ±1 at a hashed position; the vector is L2-normalised, so
    texts that share words have a high cosine similarity. A text without words gets a
    fixed unit vector (never all zeros, which has no direction).
    """
    vector = [0.0] * dimensions
    for word in _EMBED_WORD.findall(text.lower()):
        index, sign = word_feature(word, dimensions)
        vector[index] += sign
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [x / norm for x in vector]


def _embed_usage(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts) or 1


# ---------------------------------------------------------------- OpenAI


class OpenAIWire:
    vendor: Vendor = "openai"
    id_prefix = "call_"

    @staticmethod
    def conversation(body: dict[str, Any]) -> list[Turn]:
        turns = []
        for m in body.get("messages", []):
            role = {"user": "user", "assistant": "assistant", "tool": "tool"}.get(m.get("role", ""))
            if role:
                turns.append(Turn(role, _text_of(m.get("content"))))
        return turns

    @staticmethod
    def stream(plan: Plan, model: str, body: dict[str, Any]) -> Iterator[Frame]:
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                }
            )

        yield Frame(chunk({"role": "assistant", "content": ""}))
        call_index = 0
        for item in plan.items:
            if isinstance(item, Chunk):
                yield Frame(chunk({"content": item.text}), item.delay)
                continue
            head = {
                "index": call_index,
                "id": item.id,
                "type": "function",
                "function": {"name": item.name, "arguments": ""},
            }
            yield Frame(chunk({"tool_calls": [head]}))
            for frag in _fragments(item.arguments):
                yield Frame(chunk({"tool_calls": [{"index": call_index, "function": {"arguments": frag}}]}))
            call_index += 1
        yield Frame(chunk({}, plan.finish))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if plan.usage and include_usage:
            u = plan.usage
            usage = {
                "prompt_tokens": u.input_tokens,
                "completion_tokens": u.output_tokens,
                "total_tokens": u.input_tokens + u.output_tokens,
            }
            yield Frame(
                _sse(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        yield Frame(b"data: [DONE]\n\n")

    @staticmethod
    def complete(plan: Plan, model: str) -> dict[str, Any]:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in plan.tool_calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": plan.text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        body: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": plan.finish, "logprobs": None}],
        }
        if plan.usage:
            u = plan.usage
            body["usage"] = {
                "prompt_tokens": u.input_tokens,
                "completion_tokens": u.output_tokens,
                "total_tokens": u.input_tokens + u.output_tokens,
            }
        return body

    @staticmethod
    def embeddings(body: dict[str, Any], model: str) -> dict[str, Any] | None:
        """``POST /v1/embeddings``: ``input`` is a string, strings, or token ids.

        Honours ``dimensions`` (default 3072 for ``*-large``, else 1536) and
        ``encoding_format`` (``base64`` = little-endian float32, what the SDK asks for
        by default). Returns None when the input is empty (a 400).
        """
        raw = body.get("input")
        items: list[Any] = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        texts = [" ".join(map(str, i)) if isinstance(i, list) else str(i or "") for i in items]
        if raw in (None, "", []) or any(not t for t in texts):
            return None
        dimensions = int(body.get("dimensions") or (3072 if "large" in model else 1536))
        data = []
        for index, text in enumerate(texts):
            vector = hashed_embedding(text, dimensions)
            embedding: list[float] | str = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = _embed_usage(texts)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @staticmethod
    def error(spec: ErrorSpec) -> tuple[int, dict[str, Any], dict[str, str]]:
        status = spec.status
        kind, code = {
            401: ("invalid_request_error", "invalid_api_key"),
            403: ("invalid_request_error", "unsupported_country_region_territory"),
            429: ("requests", "rate_limit_exceeded"),
        }.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        message = spec.message or {
            401: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            429: "Rate limit reached for requests. Please try again later.",
        }.get(status, "The server had an error while processing your request.")
        if spec.code == "context_length":
            status, code = (400 if status < 400 or status >= 500 else status), "context_length_exceeded"
            message = (
                spec.message
                or "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."
            )
        elif spec.code:
            code = spec.code
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return status, body, _error_headers(spec)


# ---------------------------------------------------------------- Anthropic


class AnthropicWire:
    vendor: Vendor = "anthropic"
    id_prefix = "toolu_emu"

    @staticmethod
    def conversation(body: dict[str, Any]) -> list[Turn]:
        turns = []
        for m in body.get("messages", []):
            content = m.get("content")
            if m.get("role") == "user" and isinstance(content, list):
                results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
                for r in results:
                    turns.append(Turn("tool", _text_of(r.get("content"))))
                if (typed := _text_of(content)) or not results:
                    turns.append(Turn("user", typed))
            elif m.get("role") in ("user", "assistant"):
                turns.append(Turn(m["role"], _text_of(content)))
        return turns

    @staticmethod
    def stream(plan: Plan, model: str, body: dict[str, Any]) -> Iterator[Frame]:
        u = plan.usage
        start_usage = {"input_tokens": u.input_tokens if u else 0, "output_tokens": 1}
        message: dict[str, Any] = {
            "id": f"msg_emu{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage,
        }  # fmt: skip
        yield Frame(_sse({"type": "message_start", "message": message}, "message_start"))
        index, open_text = 0, False
        for item in plan.items:
            if isinstance(item, Chunk):
                if not open_text:
                    block = {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    }
                    yield Frame(_sse(block, "content_block_start"))
                    open_text = True
                delta = {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": item.text},
                }
                yield Frame(_sse(delta, "content_block_delta"), item.delay)
                continue
            if open_text:
                yield Frame(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
                index, open_text = index + 1, False
            block = {"type": "tool_use", "id": item.id, "name": item.name, "input": {}}
            yield Frame(
                _sse(
                    {"type": "content_block_start", "index": index, "content_block": block},
                    "content_block_start",
                )
            )
            for frag in _fragments(item.arguments):
                delta = {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": frag},
                }
                yield Frame(_sse(delta, "content_block_delta"))
            yield Frame(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        if open_text:
            yield Frame(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        final = {"type": "message_delta", "delta": {"stop_reason": AnthropicWire.stop_reason(plan), "stop_sequence": None},
                 "usage": {"output_tokens": u.output_tokens if u else 0}}  # fmt: skip
        yield Frame(_sse(final, "message_delta"))
        yield Frame(_sse({"type": "message_stop"}, "message_stop"))

    @staticmethod
    def stop_reason(plan: Plan) -> str:
        return {
            "stop": "end_turn",
            "tool_calls": "tool_use",
            "length": "max_tokens",
            "content_filter": "refusal",
        }[plan.finish]

    @staticmethod
    def complete(plan: Plan, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for item in plan.items:
            if isinstance(item, Chunk):
                if content and content[-1]["type"] == "text":
                    content[-1]["text"] += item.text
                else:
                    content.append({"type": "text", "text": item.text})
            else:
                content.append(
                    {"type": "tool_use", "id": item.id, "name": item.name, "input": item.arguments}
                )
        u = plan.usage
        return {
            "id": f"msg_emu{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": AnthropicWire.stop_reason(plan), "stop_sequence": None,
            "usage": {"input_tokens": u.input_tokens if u else 0, "output_tokens": u.output_tokens if u else 0},
        }  # fmt: skip

    @staticmethod
    def error(spec: ErrorSpec) -> tuple[int, dict[str, Any], dict[str, str]]:
        status = spec.status
        kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                529: "overloaded_error"}.get(status, "api_error")  # fmt: skip
        message = spec.message or {401: "invalid x-api-key", 429: "Number of requests has exceeded your rate limit.",
                                   529: "Overloaded"}.get(status, "Internal server error")  # fmt: skip
        if spec.code == "context_length":
            status, kind = 400, "invalid_request_error"
            message = spec.message or "prompt is too long: 210000 tokens > 200000 maximum"
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_emu{uuid.uuid4().hex[:16]}",
        }
        return status, body, _error_headers(spec)


# ---------------------------------------------------------------- Google

# Fixed, so signatures stay valid across emulator restarts (a run resumed later sends them back).
_SIGNATURE_KEY = b"galaxyco-emulator-thought-signature"
_MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


def signs_function_calls(model: str) -> bool:
    """Whether the model is a Gemini 3 one, which signs function calls and checks them."""
    return model.removeprefix("models/").lower().startswith("gemini-3")


def thought_signature(name: str) -> str:
    """A fresh signature for a call of ``name``, as base64: 16 random bytes and their HMAC."""
    nonce = os.urandom(16)
    mac = hmac.new(_SIGNATURE_KEY, nonce + name.encode(), hashlib.sha256).digest()
    return base64.b64encode(nonce + mac).decode()


def _signature_valid(signature: Any, name: str) -> bool:
    """Whether ``signature`` (base64, either alphabet) was issued for a call of ``name``."""
    if not isinstance(signature, str):
        return False
    try:
        text = signature.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(_SIGNATURE_KEY, raw[:16] + name.encode(), hashlib.sha256).digest()
    return len(raw) == 48 and hmac.compare_digest(raw[16:], expected)


class GoogleWire:
    vendor: Vendor = "google"
    id_prefix = ""  # Gemini sends no call ids

    @staticmethod
    def conversation(body: dict[str, Any]) -> list[Turn]:
        turns = []
        for c in body.get("contents", []):
            parts = c.get("parts", [])
            results = [p["functionResponse"] for p in parts if "functionResponse" in p]
            for r in results:
                turns.append(Turn("tool", json.dumps(r.get("response", {}))))
            typed = "".join(p.get("text", "") for p in parts if "text" in p)
            if typed or not results:
                turns.append(Turn("assistant" if c.get("role") == "model" else "user", typed))
        return turns

    @staticmethod
    def _finish(plan: Plan) -> str:
        return {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}[
            plan.finish
        ]

    @staticmethod
    def _usage(plan: Plan) -> dict[str, int] | None:
        if not plan.usage:
            return None
        u = plan.usage
        return {
            "promptTokenCount": u.input_tokens,
            "candidatesTokenCount": u.output_tokens,
            "totalTokenCount": u.input_tokens + u.output_tokens,
        }

    @staticmethod
    def _part(item: Chunk | ToolCallStep, signed: bool = False) -> dict[str, Any]:
        if isinstance(item, Chunk):
            return {"text": item.text}
        part: dict[str, Any] = {"functionCall": {"name": item.name, "args": item.arguments}}
        if signed:
            part["thoughtSignature"] = thought_signature(item.name)
        return part

    @staticmethod
    def _parts(plan: Plan, model: str) -> Iterator[tuple[Chunk | ToolCallStep, dict[str, Any]]]:
        """Each plan item with its part; for Gemini 3 the first function call is signed
        (like the API: of parallel calls, only the first part carries the signature)."""
        unsigned = signs_function_calls(model)
        for item in plan.items:
            signed = unsigned and isinstance(item, ToolCallStep)
            unsigned = unsigned and not signed
            yield item, GoogleWire._part(item, signed)

    @staticmethod
    def signature_error(body: dict[str, Any], model: str) -> ErrorSpec | None:
        """Gemini 3's check of a request's thought signatures, or ``None`` when it passes.

        The current turn starts after the last user content with something other than
        function responses; the first function call of each model content in it must carry
        the signature the emulator sent (else Gemini's "missing a thought_signature" 400,
        naming the call and its 1-based content position). A signature anywhere that the
        emulator did not issue for that function is "Corrupted" (400). Other models: no check.
        """
        if not signs_function_calls(model):
            return None
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        start = -1
        for index, content in enumerate(contents):
            parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
            if content.get("role", "user") == "user" and any("functionResponse" not in p for p in parts):
                start = index
        for index, content in enumerate(contents):
            calls = [p for p in content.get("parts") or [] if isinstance(p, dict) and "functionCall" in p]
            for position, part in enumerate(calls):
                signature = part.get("thoughtSignature", part.get("thought_signature"))
                name = str((part["functionCall"] or {}).get("name", ""))
                if signature is not None and not _signature_valid(signature, name):
                    return ErrorSpec(400, message="Corrupted thought signature.")
                if signature is None and position == 0 and index > start:
                    return ErrorSpec(400, message=_MISSING_SIGNATURE.format(name=name, position=index + 1))
        return None

    @staticmethod
    def stream(plan: Plan, model: str, body: dict[str, Any]) -> Iterator[Frame]:
        rid = uuid.uuid4().hex[:20]

        def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            data: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": rid}
            if finish:
                candidate["finishReason"] = finish
                if usage := GoogleWire._usage(plan):
                    data["usageMetadata"] = usage
            return _sse(data)

        for item, part in GoogleWire._parts(plan, model):
            yield Frame(chunk([part]), item.delay if isinstance(item, Chunk) else 0.0)
        yield Frame(chunk([{"text": ""}], GoogleWire._finish(plan)))

    @staticmethod
    def complete(plan: Plan, model: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        for item, part in GoogleWire._parts(plan, model):
            if isinstance(item, Chunk) and parts and "text" in parts[-1]:
                parts[-1]["text"] += item.text
            else:
                parts.append(part)
        candidate = {
            "content": {"role": "model", "parts": parts},
            "finishReason": GoogleWire._finish(plan),
            "index": 0,
        }
        data: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": uuid.uuid4().hex[:20],
        }
        if usage := GoogleWire._usage(plan):
            data["usageMetadata"] = usage
        return data

    @staticmethod
    def embeddings(body: dict[str, Any], batch: bool) -> dict[str, Any] | None:
        """``:batchEmbedContents`` (``{"requests": [...]}`` → ``{"embeddings": [...]}``) or
        ``:embedContent`` (one ``content`` → ``{"embedding": ...}``); 768 dimensions unless
        ``outputDimensionality`` says otherwise. Returns None for an empty request (a 400).
        """
        requests = body.get("requests") if batch else [body]
        if not requests or not isinstance(requests, list):
            return None
        vectors = []
        for request in requests:
            parts = (request.get("content") or {}).get("parts") or []
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            dimensions = int(request.get("outputDimensionality") or 768)
            vectors.append({"values": hashed_embedding(text, dimensions)})
        return {"embeddings": vectors} if batch else {"embedding": vectors[0]}

    @staticmethod
    def error(spec: ErrorSpec) -> tuple[int, dict[str, Any], dict[str, str]]:
        status = spec.status
        grpc = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(status, "INTERNAL")  # fmt: skip
        message = spec.message or {401: "API key not valid. Please pass a valid API key.",
                                   429: "Resource has been exhausted (e.g. check quota)."}.get(status, "An internal error has occurred.")  # fmt: skip
        details: list[dict[str, Any]] = []
        if spec.code == "context_length":
            status, grpc = 400, "INVALID_ARGUMENT"
            message = (
                spec.message
                or "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
            )
        if spec.retry_after is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{spec.retry_after:g}s"}
            )
        error: dict[str, Any] = {"code": status, "message": message, "status": grpc}
        if details:
            error["details"] = details
        return status, {"error": error}, _error_headers(spec)


WIRES: dict[Vendor, type[OpenAIWire] | type[AnthropicWire] | type[GoogleWire]] = {
    "openai": OpenAIWire,
    "anthropic": AnthropicWire,
    "google": GoogleWire,
}
