"""OpenAI's wire format for ``/openai``: requests, answers, errors, and messages → run input.

Errors: the routes use ``OpenAIErrorRoute``, which answers an error as the rest of the API
does (an RFC 9457 problem, from the app's own handlers) with OpenAI's ``error`` object
(``message``, ``type``, ``code``, ``param``) added, because the OpenAI SDKs build their
exception's message from it.

Requests mirror OpenAI's Chat Completions body. The agent's own model, instructions,
temperature, output limit and tools always apply, so OpenAI's sampling and tool fields
(``temperature``, ``top_p``, ``max_tokens``, ``max_completion_tokens``, ``stop``,
``tools``, ``tool_choice``, ``response_format``, ``seed``, ``user`` …) are accepted and
ignored; ``n`` must be 1, and content parts other than text are refused.

Messages → run input (``run_input``): the last message must be the user's; it is the
task. Alone, it is the input as it stands, exactly as if typed in the run panel. With
earlier turns (system or developer messages included: they add to the agent's own
instructions, never replace them), the input is a compact transcript::

    Conversation so far:
    System: Answer in French.
    User: What is 6 times 7?
    Assistant: 42.

    User's message:
    And times 8?

The whole input stays within ``services.runs.MAX_INPUT_CHARS``: the oldest user,
assistant and tool turns are dropped first, then the oldest system messages, and the
transcript says how many earlier messages were left out. A last user message that alone
is longer than that is refused (422).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from galaxyco_ui.api.v1.problems import PROBLEM_TYPE
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services.runs import MAX_INPUT_CHARS
from galaxyco_ui.services.validation import text_problem

MAX_MESSAGES = 1000
TOOL_ARGUMENTS_SHOWN = 500  # an assistant's tool call is summarised, not replayed whole

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
_LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool result",
    "function": "Tool result",
}
_HEADER = "Conversation so far:\n"
_TASK = "\n\nUser's message:\n"
_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
ExceptionHandler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


class ContentPart(BaseModel):
    """One part of a message's content; only ``{"type": "text", "text": …}`` is read."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=200)
    tool_calls: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=100,
        description="An assistant turn's tool calls, summarised in the transcript.",
    )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = Field(
        default=False, description="End the stream with a chunk that carries `usage` and no choices."
    )


class ChatCompletionRequest(BaseModel):
    """OpenAI's Chat Completions request. Fields not listed here are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(
        min_length=1, max_length=200, description="The agent's name (any case) or id; see GET /openai/models."
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation; the last message must be the user's.",
    )
    stream: bool | None = Field(
        default=False, description="Answer as server-sent `chat.completion.chunk` events."
    )
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only one answer per request.")
    temperature: float | None = Field(default=None, description="Ignored: the agent's temperature applies.")
    top_p: float | None = Field(default=None, description="Ignored.")
    max_tokens: int | None = Field(default=None, description="Ignored: the agent's output limit applies.")
    max_completion_tokens: int | None = Field(default=None, description="Ignored, like `max_tokens`.")
    user: str | None = Field(default=None, max_length=256, description="Ignored.")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


# ---------------------------------------------------------------- answers


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "galaxyco"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None


# ---------------------------------------------------------------- errors


class OpenAIErrorRoute(APIRoute):
    """Answers errors as the app does (problem+json) plus OpenAI's ``error`` object."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # answered by the app's own handler for it
                answer = _app_handler(request, error)
                if answer is None:
                    raise
                return with_openai_error(await answer(request, error))

        return route


def _app_handler(request: Request, error: Exception) -> ExceptionHandler | None:
    """The handler the app has installed for ``error`` (``problems.install``), if any."""
    handlers: dict[Any, ExceptionHandler] = request.app.exception_handlers
    return next((handlers[kind] for kind in type(error).__mro__ if kind in handlers), None)


def with_openai_error(response: Response) -> Response:
    """``response`` (a problem) with OpenAI's ``error`` object added, which the SDKs read."""
    if response.media_type != PROBLEM_TYPE and response.headers.get("content-type") != PROBLEM_TYPE:
        return response
    body = json.loads(bytes(response.body))
    status = response.status_code
    errors = body.get("errors") or {}
    body["error"] = {
        "message": body.get("detail", ""),
        "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "code": str(body.get("type", "")).rpartition("problem-")[2] or None,
        "param": next(iter(errors), None),
    }
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


# ---------------------------------------------------------------- messages → run input


def run_input(messages: list[ChatMessage]) -> str:
    """The run input for ``messages`` (see the module docstring).

    Raises:
        ValidationError: no user message last, an empty or oversized last message,
            non-text content, or text that cannot be stored (NUL, lone surrogates).
    """
    last = len(messages) - 1
    if messages[last].role != "user":
        raise ValidationError(
            {
                "messages": "End with the user's message: the agent answers the last message, which must be the user's."
            }
        )
    turns: list[tuple[str, str]] = [(m.role, _text(m, f"messages.{i}")) for i, m in enumerate(messages)]
    task = turns[last][1].strip()
    if not task:
        raise ValidationError({f"messages.{last}.content": "Write what the agent should do."})
    if len(task) > MAX_INPUT_CHARS:
        raise ValidationError(
            {f"messages.{last}.content": f"Keep the last message under {MAX_INPUT_CHARS:,} characters."}
        )
    earlier = [(role, text) for role, text in turns[:last] if text.strip()]
    if not earlier:
        return task
    return _transcript(earlier, task)


def _text(message: ChatMessage, field: str) -> str:
    content = message.content
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts = []
        for part in content:
            if part.type != "text" or part.text is None:
                raise ValidationError(
                    {
                        f"{field}.content": f"Only text content is supported; this agent cannot read “{part.type[:40]}” parts."
                    }
                )
            texts.append(part.text)
        text = "\n".join(texts)
    if message.role == "assistant" and message.tool_calls:
        text = "\n".join(filter(None, [text, *(_tool_call(call) for call in message.tool_calls)]))
    if problem := text_problem(text):
        raise ValidationError({f"{field}.content": problem})
    return text


def _tool_call(call: dict[str, Any]) -> str:
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    name = str(function.get("name") or call.get("name") or "a tool")[:100]
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    if len(arguments) > TOOL_ARGUMENTS_SHOWN:
        arguments = arguments[:TOOL_ARGUMENTS_SHOWN] + "…"
    return f"[called {name}({arguments})]"


def _transcript(earlier: list[tuple[str, str]], task: str) -> str:
    lines = [f"{_LABELS[role]}: {text.strip()}" for role, text in earlier]
    fixed = len(_HEADER) + len(_TASK) + len(task)
    # Room for "(99999 earlier messages left out)\n" once anything is dropped.
    budget = MAX_INPUT_CHARS - fixed - 40
    total = sum(len(line) + 1 for line in lines)
    kept = list(range(len(lines)))
    # Oldest conversation turns go first; system messages only when nothing else is left.
    order = [i for i in kept if earlier[i][0] not in ("system", "developer")]
    order += [i for i in kept if earlier[i][0] in ("system", "developer")]
    dropped: set[int] = set()
    for index in order:
        if total <= budget:
            break
        dropped.add(index)
        total -= len(lines[index]) + 1
    shown = [lines[i] for i in kept if i not in dropped]
    note = [f"({len(dropped)} earlier messages left out)"] if dropped else []
    if not shown:
        return f"{_HEADER}{note[0]}{_TASK}{task}"
    return _HEADER + "\n".join([*note, *shown]) + _TASK + task
