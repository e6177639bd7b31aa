"""``/openai``: GalaxyCo agents callable like OpenAI models.

Point an OpenAI SDK, Open WebUI or LibreChat at the base URL ``<PUBLIC_URL>/api/v1/openai``
with a workspace API key (``gx_…``) as the API key::

    GET  /openai/models                  the workspace's agents as models (id = the agent's name)
    GET  /openai/models/{model}          one of them
    POST /openai/chat/completions        a run of the agent, answered as a chat completion

``model`` names an agent by name (any case) or by id; ``<agent>@<number>`` pins one of its
versions (an agent whose own name ends so is found first). How the messages become the run's
input (the last user message is the task, earlier turns a compact transcript bounded to
``MAX_INPUT_CHARS``, oldest dropped first) and which OpenAI fields are ignored is in
``openai_wire``.

Each call is a normal run: trigger "api", visible live on /runs, counted by the run
limits, acting as the key. Its id is in the ``x-galaxyco-run-id`` header and in the
completion id, ``chatcmpl-<run id>``.

* **Non-streaming** waits for the run to end. Succeeded → a ``chat.completion`` whose
  message is the run's output, with the run's token counts as ``usage``. Failed or
  cancelled → a 502 problem with the run's error (``x-should-retry: false``: the SDKs
  would otherwise start the run again). Not ended ``RUN_TIMEOUT_SECONDS`` + 60 s after
  it was queued → the run is cancelled and a 504 answered.
* **Streaming** (``stream: true``) answers ``text/event-stream`` at once: a first chunk
  with ``delta.role``, then the run's text as ``delta.content`` chunks as it streams (text
  the model writes before a tool call included, so the streamed text may hold more than
  the run's final output), a last chunk with ``finish_reason: "stop"``, with
  ``stream_options.include_usage`` a chunk with ``usage`` and no choices, then
  ``data: [DONE]``. A run that fails mid-stream ends with ``data: {"error": {...}}``,
  which the SDKs raise as ``APIError`` with the run's error.
* **A dropped connection cancels the run**, as OpenAI stops generating when a client goes
  away: a stream notices at its next write (chunks, or a keep-alive comment at least
  every 15 s), a non-streaming call within a second.

Errors stay RFC 9457 problems and also carry OpenAI's ``error`` object (``message``,
``type``, ``code``, ``param``), which the SDKs read: an unknown agent raises
``openai.NotFoundError`` whose message is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.openai_wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    OpenAIErrorRoute,
    Usage,
    run_input,
    with_openai_error,
)
from galaxyco_ui.api.v1.problems import PROBLEM_TYPE, problem
from galaxyco_ui.api.v1.run_events import (
    ERROR,
    PING,
    RUN_FINISHED,
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    TEXT_DELTA,
    ApiEvent,
    Recheck,
    follow_run,
    recheck_key,
)
from galaxyco_ui.api.v1.run_responses import RUN_ID_HEADER
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, NotFoundError
from galaxyco_ui.services import agent_versions, agents, runs
from galaxyco_ui.services.agent_versions import split_pin
from galaxyco_ui.services.agents import AgentView
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.services.validation import lookup_id, name_key

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0
DISCONNECT_CHECK_SECONDS = 1.0
WAIT_SLACK_SECONDS = 60

router = APIRouter(prefix="/openai", tags=["openai-compatible"], route_class=OpenAIErrorRoute)

ModelName = Annotated[str, Path(max_length=200, description="The agent's name (any case) or id.")]
_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `chat.completion`, or with `stream: true` a stream of `chat.completion.chunk` events.",
        "content": {
            SSE_MEDIA_TYPE: {
                "schema": {  # one event (OpenAPI 3.1 reads a stream's schema per event)
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "description": 'A `chat.completion.chunk` as JSON, `{"error": {…}}`, or `[DONE]`.',
                        }
                    },
                }
            }
        },
        "headers": {RUN_ID_HEADER: {"description": "The run's id.", "schema": {"type": "string"}}},
    },
    502: {
        "description": "The run failed or was cancelled; `detail` is its error.",
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
    504: {
        "description": "The run did not end in time and was cancelled.",
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


@router.get("/models", response_model=ModelList, summary="List the agents as models")
async def list_models(ctx: ApiContext) -> ModelList:
    found = await asyncio.to_thread(agents.list_agents, ctx=ctx, sort="name")
    return ModelList(data=[_card(agent) for agent in found])


@router.get("/models/{model:path}", response_model=ModelCard, summary="Get an agent as a model")
async def get_model(ctx: ApiContext, model: ModelName) -> ModelCard:
    def find() -> ModelCard:
        agent, version = find_pinned_agent(ctx, model)
        if version is None:
            return _card(agent)
        agent_versions.get_version(ctx=ctx, agent_id=agent.id, number=version)  # NotFoundError if absent
        return ModelCard(id=f"{agent.name}@{version}", created=int(agent.created_at.timestamp()))

    return await asyncio.to_thread(find)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses=_STREAM_DOC,
    summary="Run an agent as a chat completion",
)
async def chat_completions(request: Request, ctx: ApiContext, body: ChatCompletionRequest) -> Response:
    text = run_input(body.messages)
    agent, version = await asyncio.to_thread(find_pinned_agent, ctx, body.model)
    run = await runs.start_run(ctx=ctx, agent_id=agent.id, input=text, trigger="api", version=version)
    model = agent.name if version is None else f"{agent.name}@{version}"
    reply = _Reply(ctx=ctx, run=run, model=model, recheck=recheck_key(request))
    headers = {RUN_ID_HEADER: run.id}
    if body.stream:
        return _RunStream(reply, include_usage=body.include_usage, headers=headers)
    return await _complete(request, reply, headers)


def find_agent(ctx: TenantContext, model: str) -> AgentView:
    """The workspace's agent whose id, or name in any case, is ``model``.

    Raises:
        NotFoundError: no such agent in this workspace.
    """
    wanted = model.strip()
    if lookup_id(wanted):
        with contextlib.suppress(NotFoundError):
            return agents.get_agent(ctx=ctx, agent_id=wanted)
    key = name_key(wanted)
    for agent in agents.list_agents(ctx=ctx):
        if name_key(agent.name) == key:
            return agent
    raise NotFoundError("That model (an agent's name or id; GET /api/v1/openai/models lists them)")


def find_pinned_agent(ctx: TenantContext, model: str) -> tuple[AgentView, int | None]:
    """The agent ``model`` names and the version it pins (``"Helper@3"``; None: the latest).

    An agent whose whole name is ``model`` wins over a pin, so "v@2" stays that agent.

    Raises:
        NotFoundError: no such agent in this workspace.
    """
    try:
        return find_agent(ctx, model), None
    except NotFoundError:
        reference, version = split_pin(model)
        if version is None:
            raise
    return find_agent(ctx, reference), version


def _card(agent: AgentView) -> ModelCard:
    return ModelCard(id=agent.name, created=int(agent.created_at.timestamp()))


# ---------------------------------------------------------------- following the run


@dataclass
class _Reply:
    """One run being answered: who asks, the run, and the model name to echo."""

    ctx: TenantContext
    run: RunView
    model: str
    recheck: Recheck | None = None
    ended: bool = False  # the run has finished: nothing to cancel

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.run.id}"

    @property
    def created(self) -> int:
        return int(self.run.created_at.timestamp())

    async def events(self, *, keepalive: float) -> AsyncGenerator[ApiEvent]:
        """The run's API events (``run_events``) up to ``run.finished``, with pings in silences.

        Consume it inside ``aclosing``: leaving early then closes the reads at once.
        """
        events = await follow_run(self.ctx, self.run, recheck=self.recheck, keepalive=keepalive)
        async with aclosing(events):  # type: ignore[type-var]  # an async generator
            async for event in events:
                if event.type == RUN_FINISHED:
                    self.ended = True
                yield event

    async def cancel(self, why: str) -> None:
        """Cancel the run unless it has finished; never raises (the caller is already leaving)."""
        if self.ended:
            return
        self.ended = True
        try:
            await runs.cancel_run(ctx=self.ctx, run_id=self.run.id)
            log.info("openai.run_cancelled", extra={"run_id": self.run.id, "reason": why})
        except Exception:
            log.exception("openai.cancel_failed", extra={"run_id": self.run.id})


def _usage(finished: dict[str, Any]) -> Usage:
    prompt, completion = int(finished.get("input_tokens") or 0), int(finished.get("output_tokens") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _failure(finished: dict[str, Any] | None, error: str) -> str:
    """Why a run gave no answer, in words for the caller."""
    if finished is None:
        return error or "The run could not be followed to its end."
    return str(finished.get("error") or error or f"The run ended {finished.get('status')}.")


async def _complete(request: Request, reply: _Reply, headers: dict[str, str]) -> Response:
    finished: dict[str, Any] | None = None
    error = ""
    checked = time.monotonic()
    try:
        async with asyncio.timeout(get_settings().run_timeout_seconds + WAIT_SLACK_SECONDS):
            async with aclosing(reply.events(keepalive=DISCONNECT_CHECK_SECONDS)) as events:
                async for event in events:
                    if event.type == RUN_FINISHED:
                        finished = event.data
                    elif event.type == ERROR:
                        error = str(event.data.get("message", ""))
                    if time.monotonic() - checked >= DISCONNECT_CHECK_SECONDS:
                        if await request.is_disconnected():
                            await reply.cancel("client disconnected")
                            return Response(status_code=499, headers=headers)
                        checked = time.monotonic()
    except TimeoutError:
        await reply.cancel("timeout")
        return _run_problem(504, "The run did not finish in time and was cancelled.", headers)
    except BaseException:
        await reply.cancel("request aborted")
        raise
    if finished is None or finished.get("status") != "succeeded":
        await reply.cancel("stream lost")
        return _run_problem(502, _failure(finished, error), headers)
    completion = ChatCompletion(
        id=reply.completion_id,
        created=reply.created,
        model=reply.model,
        choices=[Choice(message=AssistantMessage(content=str(finished.get("output", ""))))],
        usage=_usage(finished),
    )
    return JSONResponse(completion.model_dump(mode="json"), headers=headers)


def _run_problem(status: int, detail: str, headers: dict[str, str]) -> Response:
    slug, title = ("run-failed", "Run failed") if status == 502 else ("run-timeout", "Run timed out")
    response = problem(status, detail, slug=slug, title=title, headers={**headers, "x-should-retry": "false"})
    return with_openai_error(response)


class _RunStream(StreamingResponse):
    """The run as ``chat.completion.chunk`` events; cancels the run if the client goes away.

    Starlette ends a stream whose client disconnected either by cancelling it (ASGI < 2.4)
    or by raising from ``send`` at the next write (ASGI ≥ 2.4); both come back through
    ``__call__`` before the run has finished.
    """

    def __init__(self, reply: _Reply, *, include_usage: bool, headers: dict[str, str]) -> None:
        self.reply = reply
        self.chunks = _chunks(reply, include_usage)
        super().__init__(self.chunks, media_type=SSE_MEDIA_TYPE, headers={**headers, **SSE_HEADERS})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(Exception):
                await self.chunks.aclose()
            await self.reply.cancel("client disconnected")


async def _chunks(reply: _Reply, include_usage: bool) -> AsyncGenerator[str]:
    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Usage | None = None) -> str:
        body: dict[str, Any] = {
            "id": reply.completion_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": None,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = usage.model_dump() if usage else None
        return _sse(body)

    yield chunk({"role": "assistant", "content": ""})
    finished: dict[str, Any] | None = None
    error = ""
    last_step = -1
    try:
        async with aclosing(reply.events(keepalive=KEEP_ALIVE_SECONDS)) as events:
            async for event in events:
                if event.type == TEXT_DELTA and event.data.get("text"):
                    # A later model turn (after a tool call) starts a new paragraph; -1 is a late flush.
                    step = event.data.get("step")
                    step = step if isinstance(step, int) else -1
                    separator = "\n\n" if step > last_step >= 0 else ""
                    last_step = max(last_step, step)
                    yield chunk({"content": separator + str(event.data["text"])})
                elif event.type == PING:
                    yield ": keep-alive\n\n"
                elif event.type == ERROR:
                    error = str(event.data.get("message", ""))
                elif event.type == RUN_FINISHED:
                    finished = event.data
    except GalaxyError as exc:  # the run could not be read (e.g. the key lost access)
        error = exc.message
    if finished is None or finished.get("status") != "succeeded":
        message = _failure(finished, error)
        yield _sse(
            {"error": {"message": message, "type": "server_error", "code": "run-failed", "param": None}}
        )
    else:
        yield chunk({}, "stop")
        if include_usage:
            yield chunk(None, usage=_usage(finished))
    yield "data: [DONE]\n\n"


def _sse(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False, separators=(',', ':'))}\n\n"
