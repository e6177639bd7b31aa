"""``/schedules``: run an agent on a cron expression in a time zone.

Members manage the schedules they created, admins any; everyone in the workspace reads.
A wrong cron expression or time zone is a 422 whose ``errors`` name the field.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.idempotency import idempotent
from galaxyco_ui.api.v1.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page, page_of
from galaxyco_ui.services import schedules
from galaxyco_ui.services.agent_versions import MAX_VERSION
from galaxyco_ui.services.schedules import ScheduleView

router = APIRouter(prefix="/schedules", tags=["schedules"])

# Bodies are capped a little above what the service accepts, so its message is the one sent.
_MAX_INPUT = 2 * schedules.MAX_INPUT_CHARS


class ScheduleCreate(BaseModel):
    agent_id: str = Field(max_length=64)
    cron: str = Field(max_length=120, description="Five fields: minute hour day-of-month month day-of-week.")
    timezone: str = Field(default="UTC", max_length=64, description="An IANA zone, e.g. Europe/Paris.")
    input: str = Field(max_length=_MAX_INPUT, description="What the agent is asked each time.")
    enabled: bool = True
    agent_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Run this version of the agent; the latest when null."
    )


class SchedulePatch(BaseModel):
    """Only the fields sent change; the rest keep their values."""

    cron: str | None = Field(default=None, max_length=120)
    timezone: str | None = Field(default=None, max_length=64)
    input: str | None = Field(default=None, max_length=_MAX_INPUT)
    enabled: bool | None = None
    agent_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Pin this version; null runs the latest again."
    )


@router.get("", response_model=Page[ScheduleView], summary="List schedules")
async def list_schedules(
    ctx: ApiContext,
    agent_id: Annotated[
        str | None, Query(max_length=64, description="Only this agent's; all live agents' when absent.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = "",
) -> Page[ScheduleView]:
    if agent_id is not None:
        rows = await asyncio.to_thread(schedules.list_schedules, ctx=ctx, agent_id=agent_id)
        return page_of(rows, cursor, limit)
    items, next_cursor = await asyncio.to_thread(
        schedules.list_workspace_schedules, ctx=ctx, cursor=cursor, limit=limit
    )
    return page(items, next_cursor)


@router.post("", status_code=201, response_model=ScheduleView, summary="Create a schedule")
async def create_schedule(request: Request, ctx: ApiContext, body: ScheduleCreate) -> Response:
    return await idempotent(
        request,
        ctx,
        lambda: asyncio.to_thread(
            schedules.create_schedule,
            ctx=ctx,
            agent_id=body.agent_id,
            cron=body.cron,
            timezone=body.timezone,
            input=body.input,
            enabled=body.enabled,
            agent_version=body.agent_version,
        ),
    )


@router.get("/{schedule_id}", response_model=ScheduleView, summary="Get a schedule")
async def get_schedule(ctx: ApiContext, schedule_id: str) -> ScheduleView:
    return await asyncio.to_thread(schedules.get_schedule, ctx=ctx, schedule_id=schedule_id)


@router.patch("/{schedule_id}", response_model=ScheduleView, summary="Update a schedule")
async def update_schedule(ctx: ApiContext, schedule_id: str, body: SchedulePatch) -> ScheduleView:
    def update() -> ScheduleView:
        current = schedules.get_schedule(ctx=ctx, schedule_id=schedule_id)
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        return schedules.update_schedule(
            ctx=ctx,
            schedule_id=schedule_id,
            cron=changes.get("cron", current.cron),
            timezone=changes.get("timezone", current.timezone),
            input=changes.get("input", current.input),
            enabled=changes.get("enabled", current.enabled),
            agent_version=body.agent_version if "agent_version" in body.model_fields_set else schedules.KEEP,
        )

    return await asyncio.to_thread(update)


@router.delete("/{schedule_id}", status_code=204, summary="Delete a schedule")
async def delete_schedule(ctx: ApiContext, schedule_id: str) -> Response:
    await asyncio.to_thread(schedules.delete_schedule, ctx=ctx, schedule_id=schedule_id)
    return Response(status_code=204)
