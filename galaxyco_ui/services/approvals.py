"""Approvals: tool calls that wait for a person, listed, shown and decided.

When an agent's "ask before running" tool is called, its run waits (``runs.approvals``)
until a member who may run the agent approves or denies the call (with an optional note
the model sees), or its agent's approval timeout passes (``expire_due_approvals``, in the
recovery sweep: the call is denied as timed out). A decision re-queues the run, which
resumes on any executor; of two members deciding at once exactly one wins and the other
is told who decided first.

Viewers see what waits but decide nothing; another workspace's approval is not found.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, can, require
from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, ToolApproval, User
from galaxyco_ui.runs import approvals as engine
from galaxyco_ui.runs.approvals import HTTP_WRITE as HTTP_WRITE  # re-exported for the agent form
from galaxyco_ui.runs.events import get_event_bus, run_stream, workspace_stream
from galaxyco_ui.runs.executor import enqueue_run
from galaxyco_ui.services import audit
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.validation import check_text, lookup_id

log = logging.getLogger("galaxyco.approvals")

MAX_NOTE_CHARS = 2_000
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
ARGUMENTS_SHOWN_CHARS = 20_000  # the pretty JSON a card shows; the API returns the object whole
Decision = Literal["approve", "deny"]


class ApprovalView(BaseModel):
    """A tool call that waits (or waited) for a person."""

    id: str
    run_id: str
    agent_id: str
    agent_name: str
    tool_name: str
    tool_call_id: str
    arguments: dict[str, Any]
    arguments_json: str  # ``arguments`` as indented JSON, for showing as plain text
    status: str  # pending | approved | denied | expired
    note: str
    decided_by: str | None
    decided_by_name: str
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime
    can_decide: bool


class ApprovalPage(BaseModel):
    approvals: list[ApprovalView]
    next_cursor: str  # "" when there is no older page


def list_pending_approvals(*, ctx: TenantContext, cursor: str = "", limit: int = PAGE_SIZE) -> ApprovalPage:
    """The calls waiting in the caller's workspace, newest first (the Approvals inbox).

    Raises:
        ValidationError: ``cursor`` is not one a page gave (field ``cursor``).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    with session_scope() as session:
        query = select(ToolApproval).where(
            ToolApproval.workspace_id == ctx.workspace_id, ToolApproval.status == "pending"
        )
        if cursor:
            query = query.where(older_than(cursor, col(ToolApproval.created_at), col(ToolApproval.id)))
        rows = session.exec(
            query.order_by(col(ToolApproval.created_at).desc(), col(ToolApproval.id).desc()).limit(limit + 1)
        ).all()
        page, more = list(rows[:limit]), len(rows) > limit
        next_cursor = page_cursor(page[-1].created_at, page[-1].id) if more and page else ""
        return ApprovalPage(approvals=_views(session, ctx, page), next_cursor=next_cursor)


def count_pending_approvals(*, ctx: TenantContext) -> int:
    """How many calls wait in the caller's workspace (the sidebar's count)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(ToolApproval)
                .where(ToolApproval.workspace_id == ctx.workspace_id, ToolApproval.status == "pending")
            ).one()
        )


def get_run_approval(*, ctx: TenantContext, run_id: str) -> ApprovalView | None:
    """The run's pending approval, else its latest decided one; None if it never asked.

    Raises:
        NotFoundError: no such run in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    key = lookup_id(run_id)
    with session_scope() as session:
        run = session.get(Run, key) if key else None
        if run is None or run.workspace_id != ctx.workspace_id:
            raise NotFoundError("That run")
        rows = session.exec(
            select(ToolApproval)
            .where(ToolApproval.workspace_id == ctx.workspace_id, ToolApproval.run_id == run.id)
            .order_by(col(ToolApproval.created_at).desc(), col(ToolApproval.id).desc())
        ).all()
        if not rows:
            return None
        chosen = next((a for a in rows if a.status == "pending"), rows[0])
        return _views(session, ctx, [chosen])[0]


async def decide_approval(
    *, ctx: TenantContext, approval_id: str, decision: Decision, note: str = ""
) -> ApprovalView:
    """Approve or deny a waiting call (``note``: optional, up to 2,000 characters, the model
    sees it), then queue its run to resume.

    Raises:
        PermissionDeniedError: viewers.
        NotFoundError: no such approval in this workspace.
        ValidationError: an unknown decision or an unusable or oversized note.
        ConflictError: it was already decided (by someone else, or timed out), or its run
            no longer waits (cancelled).
    """
    require(ctx, Permission.RUN_AGENT)
    if decision not in ("approve", "deny"):
        raise ValidationError({"decision": "Choose approve or deny."})
    text = check_text(note, field="note").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError({"note": f"Keep the note under {MAX_NOTE_CHARS:,} characters."})
    view = await asyncio.to_thread(_decide, ctx, approval_id, decision, text)
    await _resume(view.run_id, ctx.workspace_id, view.id, view.status)
    return view


async def expire_due_approvals() -> list[str]:
    """Deny, as timed out, every waiting call past its ``expires_at`` and queue its run.

    Spans every workspace (the recovery sweep calls it: ``services.workers``); each call
    is a compare-and-set, so any number of processes may run it at once. Returns the ids
    of the runs this process queued.
    """
    queued: list[str] = []
    for approval_id in await asyncio.to_thread(engine.due_approvals):
        moved = await asyncio.to_thread(engine.expire, approval_id)
        if moved is None:
            continue
        run_id, workspace_id = moved
        log.info("approval timed out", extra={"run_id": run_id, "workspace_id": workspace_id})
        await _resume(run_id, workspace_id, approval_id, "expired")
        queued.append(run_id)
    return queued


# ---------------------------------------------------------------- internals


def _decide(ctx: TenantContext, approval_id: str, decision: Decision, note: str) -> ApprovalView:
    status = "approved" if decision == "approve" else "denied"
    with session_scope() as session:
        approval = _approval(session, ctx, approval_id)
        decided, queued = engine.decide(session, approval, status=status, note=note, decided_by=ctx.user_id)
        if not decided or not queued:
            session.rollback()
            raise ConflictError({"decision": _already_decided(session, approval.id)})
        run = session.get(Run, approval.run_id)
        agent = run.agent_snapshot.get("name", "") if run else ""
        audit.record(
            session,
            ctx,
            f"approval.{status}",
            summary=f"{'Approved' if status == 'approved' else 'Denied'} a call of {approval.tool_name} "
            f"by agent “{agent}”",
            target_type="run",
            target_id=approval.run_id,
            data={"approval_id": approval.id, "tool": approval.tool_name, "note": note[:200]},
        )
        session.refresh(approval)
        return _views(session, ctx, [approval])[0]


def _already_decided(session: Session, approval_id: str) -> str:
    """Why a decision lost: who decided first (or that it timed out, or the run ended)."""
    approval = session.get(ToolApproval, approval_id)
    if approval is None or approval.status == "pending":
        return "This run no longer waits for a decision."
    if approval.status == "expired":
        return "This call was already denied: nobody decided in time (timed out)."
    who = session.get(User, approval.decided_by) if approval.decided_by else None
    verb = "approved" if approval.status == "approved" else "denied"
    return f"This call was already {verb} by {who.name if who else 'someone else'}."


async def _resume(run_id: str, workspace_id: str, approval_id: str, status: str) -> None:
    """Tell the run's watchers the call was decided, and hand the run to an executor."""
    bus = get_event_bus()
    event = {"status": "queued", "approval_id": approval_id, "decision": status}
    try:
        await bus.publish(run_stream(run_id), "status", event)
        await bus.publish(workspace_stream(workspace_id), "run", {"run_id": run_id, **event})
    except Exception:  # live views only: the run is queued in the database either way
        log.warning("approval event dropped", extra={"run_id": run_id}, exc_info=True)
    # A fresh job key: the job that moved the run to waiting may not have returned yet.
    await enqueue_run(run_id, key=f"{run_id}.{approval_id}")


def _approval(session: Session, ctx: TenantContext, approval_id: str) -> ToolApproval:
    key = lookup_id(approval_id)  # a NUL or lone surrogate would crash the database
    approval = session.get(ToolApproval, key) if key else None
    if approval is None or approval.workspace_id != ctx.workspace_id:
        raise NotFoundError("That approval")
    return approval


def _views(session: Session, ctx: TenantContext, rows: list[ToolApproval]) -> list[ApprovalView]:
    run_ids = {a.run_id for a in rows}
    names = dict(
        session.exec(select(Run.id, Run.agent_snapshot).where(col(Run.id).in_(run_ids))).all()
        if run_ids
        else []
    )
    user_ids = {a.decided_by for a in rows if a.decided_by}
    users = (
        dict(session.exec(select(User.id, User.name).where(col(User.id).in_(user_ids))).all())
        if user_ids
        else {}
    )
    may_decide = can(ctx, Permission.RUN_AGENT)
    views = []
    for a in rows:
        pretty = json.dumps(a.arguments, indent=2, ensure_ascii=False, sort_keys=True)
        if len(pretty) > ARGUMENTS_SHOWN_CHARS:
            pretty = pretty[:ARGUMENTS_SHOWN_CHARS] + "\n…"
        views.append(
            ApprovalView(
                id=a.id,
                run_id=a.run_id,
                agent_id=a.agent_id,
                agent_name=str((names.get(a.run_id) or {}).get("name", "")),
                tool_name=a.tool_name,
                tool_call_id=a.tool_call_id,
                arguments=a.arguments,
                arguments_json=pretty,
                status=a.status,
                note=a.note,
                decided_by=a.decided_by,
                decided_by_name=users.get(a.decided_by or "", "" if a.status == "pending" else "Timeout"),
                decided_at=a.decided_at,
                expires_at=a.expires_at,
                created_at=a.created_at,
                can_decide=may_decide and a.status == "pending",
            )
        )
    return views
