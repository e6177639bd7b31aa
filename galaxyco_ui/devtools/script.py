"""Scripted answers for the provider emulator.

A ``Script`` is the answer to one request: a list of steps (text, tool calls, usage) plus
optional error injection. Build one in Python::

    Script([text("Hello there"), tool_call("search", {"q": "x"}), usage(12, 7)])
    Script.error(429, retry_after=2)
    Script.slow("a long answer ...", tokens_per_second=5)
    Script([text("partial answer ...")], disconnect_after=3)

or from JSON (what an end-to-end test types as the user message)::

    {"emulator": {"steps": [{"text": "hi"}, {"tool_call": {"name": "x", "arguments": {}}},
                            {"usage": [10, 5]}],
                  "tokens_per_second": 5, "error": {"status": 429, "retry_after": 1},
                  "disconnect_after": 3, "finish": "length", "usage": false}}

``{"emulator": [script, script, ...]}`` scripts several turns: the n-th script answers the
n-th model turn after that user message (e.g. a tool call, then the final text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

NeutralFinish = Literal["stop", "tool_calls", "length", "content_filter"]
_TOKEN_RE = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True, slots=True)
class TextStep:
    """Assistant text, streamed one word per chunk (``tokens_per_second`` overrides the pace)."""

    text: str
    tokens_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStep:
    """A tool call with already-decoded ``arguments``; ``id`` is generated when empty."""

    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass(frozen=True, slots=True)
class UsageStep:
    """Token counts to report instead of the emulator's estimate."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """Answer with an HTTP error instead of content.

    ``code="context_length"`` sends each vendor's context-window error (status 400 unless
    given); ``retry_after`` / ``retry_after_ms`` add the matching headers (and Gemini's
    ``RetryInfo`` detail).
    """

    status: int
    retry_after: float | None = None
    retry_after_ms: int | None = None
    message: str = ""
    code: str = ""


Step = TextStep | ToolCallStep | UsageStep


def text(content: str, *, tokens_per_second: float | None = None) -> TextStep:
    """A text step."""
    return TextStep(content, tokens_per_second)


def tool_call(name: str, arguments: dict[str, Any] | None = None, *, id: str = "") -> ToolCallStep:
    """A tool-call step."""
    return ToolCallStep(name, dict(arguments or {}), id)


def usage(input_tokens: int, output_tokens: int) -> UsageStep:
    """A usage step (overrides the estimate)."""
    return UsageStep(input_tokens, output_tokens)


@dataclass(slots=True)
class Script:
    """One scripted answer.

    Attributes:
        steps: text / tool calls / usage, in answer order.
        tokens_per_second: pace for text chunks; ``None`` streams instantly.
        error: answer with this HTTP error instead (nothing is streamed).
        disconnect_after: close the connection abruptly after this many streamed chunks
            (for a non-streaming request: without any answer).
        finish: override the finish reason (default: ``tool_calls`` when the script calls a
            tool, else ``stop``).
        include_usage: ``False`` sends no usage at all (like some OpenAI-compatible servers).
    """

    steps: list[Step] = field(default_factory=list)
    tokens_per_second: float | None = None
    error_spec: ErrorSpec | None = None
    disconnect_after: int | None = None
    finish: NeutralFinish | None = None
    include_usage: bool = True

    @classmethod
    def error(
        cls,
        status: int,
        *,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        message: str = "",
        code: str = "",
    ) -> Script:
        """A script that fails with an HTTP error in the vendor's format."""
        return cls(error_spec=ErrorSpec(status, retry_after, retry_after_ms, message, code))

    @classmethod
    def slow(cls, content: str, *, tokens_per_second: float = 5.0) -> Script:
        """A text answer streamed slowly (for cancel tests)."""
        return cls([TextStep(content)], tokens_per_second=tokens_per_second)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        """Build a script from its JSON form (see the module docstring).

        Raises:
            ValueError: the JSON does not describe a script.
        """
        if not isinstance(data, dict):
            raise ValueError("an emulator script must be a JSON object")
        steps: list[Step] = []
        for raw in data.get("steps", []):
            if "text" in raw:
                steps.append(TextStep(str(raw["text"]), raw.get("tokens_per_second")))
            elif "tool_call" in raw:
                call = raw["tool_call"]
                steps.append(
                    ToolCallStep(str(call["name"]), dict(call.get("arguments", {})), call.get("id", ""))
                )
            elif "usage" in raw:
                spec = raw["usage"]
                pair = (spec["input"], spec["output"]) if isinstance(spec, dict) else spec
                steps.append(UsageStep(int(pair[0]), int(pair[1])))
            else:
                raise ValueError(f"unknown emulator step: {raw!r}")
        error_spec = None
        if err := data.get("error"):
            err = {"status": err} if isinstance(err, int) else err
            error_spec = ErrorSpec(
                int(err["status"]),
                err.get("retry_after"),
                err.get("retry_after_ms"),
                err.get("message", ""),
                err.get("code", ""),
            )
        return cls(
            steps=steps,
            tokens_per_second=data.get("tokens_per_second"),
            error_spec=error_spec,
            disconnect_after=data.get("disconnect_after"),
            finish=data.get("finish"),
            include_usage=bool(data.get("usage", True)),
        )


def scripts_from_message(message: str) -> list[Script] | None:
    """Return the scripts a user message asks for (``{"emulator": ...}``), else ``None``."""
    stripped = message.strip()
    if not stripped.startswith("{") or '"emulator"' not in stripped:
        return None
    try:
        data = json.loads(stripped)
        spec = data["emulator"]
        specs = spec if isinstance(spec, list) else [spec]
        return [Script.from_json(s) for s in specs]
    except (ValueError, KeyError, TypeError, IndexError):
        return None


# ---------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class Chunk:
    """One text token and the delay (seconds) to wait before sending it."""

    text: str
    delay: float


PlanItem = Chunk | ToolCallStep


@dataclass(frozen=True, slots=True)
class Plan:
    """A script resolved for one request: what to send, in order, and how it ends."""

    items: tuple[PlanItem, ...]
    usage: UsageStep | None
    finish: NeutralFinish
    error: ErrorSpec | None
    disconnect_after: int | None

    @property
    def text(self) -> str:
        """All text of the answer."""
        return "".join(i.text for i in self.items if isinstance(i, Chunk))

    @property
    def tool_calls(self) -> list[ToolCallStep]:
        """The answer's tool calls, in order."""
        return [i for i in self.items if isinstance(i, ToolCallStep)]


def plan(script: Script, *, input_estimate: int, id_prefix: str) -> Plan:
    """Resolve a script: split text into chunks, give tool calls ids, settle usage and finish.

    Args:
        script: the script to resolve.
        input_estimate: input token count to report when the script sets none.
        id_prefix: vendor style prefix for generated tool-call ids (``call_``, ``toolu_``).
    """
    items: list[PlanItem] = []
    explicit_usage: UsageStep | None = None
    calls = 0
    for step in script.steps:
        if isinstance(step, TextStep):
            tps = step.tokens_per_second or script.tokens_per_second
            delay = 1.0 / tps if tps else 0.0
            items.extend(Chunk(tok, delay) for tok in _TOKEN_RE.findall(step.text))
        elif isinstance(step, ToolCallStep):
            call_id = step.id or f"{id_prefix}{calls:04d}"
            items.append(ToolCallStep(step.name, step.arguments, call_id))
            calls += 1
        else:
            explicit_usage = step
    output_estimate = max(1, sum(1 for i in items if isinstance(i, Chunk)) + 10 * calls)
    final_usage = explicit_usage or UsageStep(input_estimate, output_estimate)
    finish: NeutralFinish = script.finish or ("tool_calls" if calls else "stop")
    return Plan(
        items=tuple(items),
        usage=final_usage if script.include_usage else None,
        finish=finish,
        error=script.error_spec,
        disconnect_after=script.disconnect_after,
    )
