"""Runs: start one (``POST /agents/{id}/runs``), list, read, follow live, cancel, retry.

A run started here has the trigger ``api``; the workspace's concurrent-run cap and the
per-user start limit apply (429 + Retry-After). How a start is answered (``async``,
``blocking``, ``streaming``) is ``run_responses``; the events are ``run_events``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.idempotency import idempotent
from galaxyco_ui.api.v1.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page
from galaxyco_ui.api.v1.run_events import PING_SECONDS, SSE_RESPONSE, api_events, recheck_key, sse_response
from galaxyco_ui.api.v1.run_responses import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    RUN_ID_HEADER,
    RUN_RESPONSES,
    ResponseMode,
    respond_to_run,
    run_location,
)
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import runs
from galaxyco_ui.services.agent_versions import MAX_VERSION, split_pin
from galaxyco_ui.services.runs import RunView, StepView

router = APIRouter(tags=["runs"])

RunStatus = Literal["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled"]
RunTrigger = Literal["manual", "schedule", "api", "webhook"]


class RunStart(BaseModel):
    input: str = Field(min_length=1, max_length=runs.MAX_INPUT_CHARS, description="What the agent should do.")
    response_mode: ResponseMode = Field(
        default="async",
        description="`async`: 202 with the run at once. `blocking`: wait for the end (200), or "
        "202 with the run as it is after `timeout`. `streaming`: server-sent events.",
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        le=MAX_TIMEOUT,
        description="Seconds `blocking` waits (at most 300).",
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Run this version of the agent (`GET /agents/{id}/versions`); the latest when absent. "
        "`/agents/{id}@{version}/runs` pins it too.",
    )


@router.post(
    "/agents/{agent_id}/runs",
    status_code=202,
    response_model=RunView,
    responses=RUN_RESPONSES,
    summary="Start a run of an agent",
)
async def start_run(request: Request, ctx: ApiContext, agent_id: str, body: RunStart) -> Response:
    """Start a run with `input`. With `Idempotency-Key`, a repeat answers the same run.
    `agent_id` may pin a version as `<id>@<number>` (or send `version`); an unknown version is a 404."""
    reference, pinned = split_pin(agent_id)
    if pinned is not None and body.version is not None and pinned != body.version:
        raise ValidationError(
            {"version": f"The path pins version {pinned} and the body version {body.version}."}
        )
    version = body.version if body.version is not None else pinned

    async def start() -> RunView:
        return await runs.start_run(
            ctx=ctx, agent_id=reference, input=body.input, trigger="api", version=version
        )

    created = await idempotent(request, ctx, start, status_code=202)
    run = RunView.model_validate_json(bytes(created.body))
    response = await respond_to_run(
        ctx, run, body.response_mode, timeout=body.timeout, recheck=recheck_key(request)
    )
    if created.headers.get("Idempotent-Replayed"):
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("/runs", response_model=Page[RunView], summary="List runs")
async def list_runs(
    ctx: ApiContext,
    status: Annotated[RunStatus | None, Query(description="Only runs in this state.")] = None,
    agent_id: Annotated[str, Query(max_length=64, description="Only runs of this agent.")] = "",
    trigger: Annotated[RunTrigger | None, Query(description="Only runs started this way.")] = None,
    since: Annotated[
        datetime | None, Query(description="Runs created at or after this time (ISO 8601; UTC if no offset).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Runs created before this time.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = "",
) -> Page[RunView]:
    """The workspace's runs, newest first."""
    found = await asyncio.to_thread(
        runs.list_runs,
        ctx=ctx,
        status=status or "",
        agent_id=agent_id,
        trigger=trigger or "",
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return page(found.runs, found.next_cursor)


@router.get("/runs/{run_id}", response_model=RunView, summary="Get a run")
async def get_run(ctx: ApiContext, run_id: str) -> RunView:
    return await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)


@router.get("/runs/{run_id}/steps", response_model=Page[StepView], summary="List a run's steps")
async def get_steps(ctx: ApiContext, run_id: str) -> Page[StepView]:
    """The run's recorded steps in order: model turns, tool calls, tool results (one page)."""
    steps = await asyncio.to_thread(runs.get_steps, ctx=ctx, run_id=run_id)
    return page(steps, "")


@router.get(
    "/runs/{run_id}/events",
    response_class=Response,
    responses=SSE_RESPONSE,
    summary="Follow a run's events (SSE)",
)
async def run_events(
    request: Request,
    ctx: ApiContext,
    run_id: str,
    last_event_id: Annotated[
        str,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this event id (browsers send it when they reconnect).",
        ),
    ] = "",
) -> Response:
    """Replay the run's events, then follow it live until `run.finished`.

    Types: `run.queued`, `run.started`, `text.delta`, `tool.call`, `tool.result`, `usage`,
    `error`, `run.finished`; every `data` has `run_id`. Each event's `id` is its cursor:
    reconnect with `Last-Event-ID` to go on with no gap or repeat. A run whose live
    stream has expired is told from its record (ids `s1`, `s2`, …).
    """
    events = await api_events(
        ctx, run_id, last_event_id, recheck=recheck_key(request), keepalive=PING_SECONDS
    )
    return sse_response(events, headers={RUN_ID_HEADER: run_id})


@router.post("/runs/{run_id}/cancel", status_code=202, response_model=RunView, summary="Cancel a run")
async def cancel_run(ctx: ApiContext, run_id: str) -> RunView:
    """Ask the run to stop: a queued run stops at once, a running one within a second.
    A finished run is left as it is. Answers the run as it is now."""
    await runs.cancel_run(ctx=ctx, run_id=run_id)
    return await asyncio.to_thread(runs.get_run, ctx=ctx, run_id=run_id)


@router.post("/runs/{run_id}/retry", status_code=202, response_model=RunView, summary="Retry a run")
async def retry_run(request: Request, ctx: ApiContext, run_id: str) -> Response:
    """A new run with the same input and agent configuration (`retry_of` names the first)."""
    response = await idempotent(request, ctx, lambda: runs.retry_run(ctx=ctx, run_id=run_id), status_code=202)
    run = RunView.model_validate_json(bytes(response.body))
    response.headers["Location"] = run_location(run.id)
    response.headers[RUN_ID_HEADER] = run.id
    return response
