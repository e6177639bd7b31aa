"""Tool calls that wait for a person: the inbox, a run's call, approve and deny.

An agent marks tools "ask before running"; when its model calls one, the run's status is
``waiting_approval`` until a member who may run agents decides (viewer keys get 403), or
the agent's approval timeout passes (then the call is denied as timed out). A decision
re-queues the run, which resumes where it stopped. Of two deciders only the first counts:
the other gets 409 with who decided. The model sees a denial and its ``note``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page
from galaxyco_ui.api.v1.problems import PROBLEMS
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import approvals
from galaxyco_ui.services.approvals import ApprovalView

router = APIRouter(tags=["approvals"])

_DECIDED: dict[int | str, dict[str, Any]] = {
    409: {
        **PROBLEMS[409],
        "description": "Already decided (by someone else, or timed out), or the run ended.",
    }
}


class DecisionBody(BaseModel):
    note: str = Field(
        default="",
        max_length=2 * approvals.MAX_NOTE_CHARS,  # the service's message names the real limit
        description="Optional (up to 2,000 characters); the model reads it with a denial.",
    )


@router.get("/approvals", response_model=Page[ApprovalView], summary="List tool calls waiting for approval")
async def list_approvals(
    ctx: ApiContext, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> Page[ApprovalView]:
    """The calls that wait for a person in the key's workspace, newest first."""
    found = await asyncio.to_thread(approvals.list_pending_approvals, ctx=ctx, cursor=cursor, limit=limit)
    return page(found.approvals, found.next_cursor)


@router.get("/runs/{run_id}/approval", response_model=ApprovalView, summary="Get a run's tool call approval")
async def get_run_approval(ctx: ApiContext, run_id: str) -> ApprovalView:
    """The call the run waits on (status `pending`), else its latest decided one; 404 if it never asked."""
    found = await asyncio.to_thread(approvals.get_run_approval, ctx=ctx, run_id=run_id)
    if found is None:
        raise NotFoundError("An approval of that run")
    return found


@router.post(
    "/approvals/{approval_id}/approve",
    response_model=ApprovalView,
    responses=_DECIDED,
    summary="Approve a waiting tool call",
)
async def approve(ctx: ApiContext, approval_id: str, body: DecisionBody | None = None) -> ApprovalView:
    """Run the call as the model asked; the run resumes (`queued`, then `running`)."""
    note = body.note if body else ""
    return await approvals.decide_approval(ctx=ctx, approval_id=approval_id, decision="approve", note=note)


@router.post(
    "/approvals/{approval_id}/deny",
    response_model=ApprovalView,
    responses=_DECIDED,
    summary="Deny a waiting tool call",
)
async def deny(ctx: ApiContext, approval_id: str, body: DecisionBody | None = None) -> ApprovalView:
    """Do not run the call: the model gets "A person denied this call: <note>" and goes on."""
    note = body.note if body else ""
    return await approvals.decide_approval(ctx=ctx, approval_id=approval_id, decision="deny", note=note)
