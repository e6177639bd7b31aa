"""``/agents``: list, create, read, update and delete the workspace's agents; their versions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.idempotency import idempotent
from galaxyco_ui.api.v1.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of
from galaxyco_ui.services import agent_versions, agents
from galaxyco_ui.services.agent_versions import (
    MAX_VERSION,
    AgentVersionSummary,
    AgentVersionView,
    VersionDiff,
)
from galaxyco_ui.services.agents import AgentInput, AgentView

router = APIRouter(prefix="/agents", tags=["agents"])


class AgentPatch(BaseModel):
    """Only the fields sent change; the rest keep their values."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    instructions: str | None = Field(default=None, max_length=40_000)
    temperature: float | None = None
    max_steps: int | None = None
    max_output_tokens: int | None = None
    tools: list[str] | None = Field(default=None, max_length=50)
    tags: list[str] | None = Field(default=None, max_length=50)
    knowledge_collection_ids: list[str] | None = Field(default=None, max_length=50)
    approval_tools: list[str] | None = Field(default=None, max_length=200)
    approval_timeout_seconds: int | None = None


@router.get("", response_model=Page[AgentView], summary="List agents")
async def list_agents(
    ctx: ApiContext,
    search: Annotated[str, Query(max_length=100, description="Matches name, description, model, tags.")] = "",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = "",
) -> Page[AgentView]:
    rows = await asyncio.to_thread(agents.list_agents, ctx=ctx, search=search)
    return page_of(rows, cursor, limit)


@router.post("", status_code=201, response_model=AgentView, summary="Create an agent")
async def create_agent(request: Request, ctx: ApiContext, body: AgentInput) -> Response:
    data: dict[str, Any] = body.model_dump()
    return await idempotent(request, ctx, lambda: asyncio.to_thread(agents.create_agent, ctx=ctx, data=data))


@router.get("/{agent_id}", response_model=AgentView, summary="Get an agent")
async def get_agent(ctx: ApiContext, agent_id: str) -> AgentView:
    return await asyncio.to_thread(agents.get_agent, ctx=ctx, agent_id=agent_id)


@router.patch("/{agent_id}", response_model=AgentView, summary="Update an agent")
async def update_agent(ctx: ApiContext, agent_id: str, body: AgentPatch) -> AgentView:
    def update() -> AgentView:
        current = agents.get_agent(ctx=ctx, agent_id=agent_id)
        data: dict[str, object] = {name: getattr(current, name) for name in AgentInput.model_fields}
        data.update(body.model_dump(exclude_unset=True, exclude_none=True))
        return agents.update_agent(ctx=ctx, agent_id=agent_id, data=data)

    return await asyncio.to_thread(update)


@router.delete("/{agent_id}", status_code=204, summary="Delete an agent")
async def delete_agent(ctx: ApiContext, agent_id: str) -> Response:
    await asyncio.to_thread(agents.delete_agent, ctx=ctx, agent_id=agent_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- versions

VersionNumber = Annotated[
    int, Path(ge=1, le=MAX_VERSION, description="The version's number (1 is the first).")
]


@router.get(
    "/{agent_id}/versions", response_model=Page[AgentVersionSummary], summary="List an agent's versions"
)
async def list_versions(
    ctx: ApiContext, agent_id: str, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> Page[AgentVersionSummary]:
    """Every saved configuration of the agent, newest first. Each save that changes what a
    run uses adds one; `current` marks the one unpinned runs use."""
    rows = await asyncio.to_thread(agent_versions.list_versions, ctx=ctx, agent_id=agent_id)
    return page_of(rows, cursor, limit)


@router.get("/{agent_id}/versions/{number}", response_model=AgentVersionView, summary="Get an agent version")
async def get_version(ctx: ApiContext, agent_id: str, number: VersionNumber) -> AgentVersionView:
    """The version with its configuration (name, model, instructions, limits, tools, approvals,
    knowledge collections). Pin it in a run with `version` or as `<agent>@<number>`."""
    return await asyncio.to_thread(agent_versions.get_version, ctx=ctx, agent_id=agent_id, number=number)


@router.get(
    "/{agent_id}/versions/{number}/diff/{other}",
    response_model=VersionDiff,
    summary="Compare two agent versions",
)
async def diff_versions(
    ctx: ApiContext,
    agent_id: str,
    number: VersionNumber,
    other: Annotated[int, Path(ge=1, le=MAX_VERSION, description="The version to compare it with.")],
) -> VersionDiff:
    """Version `number` (`a`, before) against version `other` (`b`, after), as the History tab
    shows them: every field side by side as text with `changed` (lists joined by commas,
    knowledge collections by name), and the instructions as a line diff of `same`, `removed`
    and `added` lines. 404 when the agent or either version does not exist."""
    return await asyncio.to_thread(
        agent_versions.diff_versions, ctx=ctx, agent_id=agent_id, a=number, b=other
    )


@router.post(
    "/{agent_id}/versions/{number}/restore",
    status_code=201,
    response_model=AgentVersionView,
    summary="Restore an agent version",
)
async def restore_version(ctx: ApiContext, agent_id: str, number: VersionNumber) -> AgentVersionView:
    """Make this version's configuration the agent's again, as a new version (answered);
    the description and tags stay. 422 when it is already the agent's configuration."""
    return await asyncio.to_thread(agent_versions.restore_version, ctx=ctx, agent_id=agent_id, number=number)
