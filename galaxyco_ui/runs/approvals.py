"""Tool calls that wait for a person: the runs engine's side of ``tool_approvals``.

An agent lists in ``approval_tools`` the tools it must ask before running (entries of its
``tools``, plus ``HTTP_WRITE``: ``http_request`` with a method other than GET or HEAD).
When the model calls one, ``request_approval`` persists the call as a step, creates the
pending ``ToolApproval`` and moves the run ``running → waiting_approval`` in one
transaction; the executor then ends its job: nothing waits in memory and no worker slot
is held. A decision (``decide``: a person, or ``expire_due`` once ``expires_at`` has
passed) moves the approval ``pending → approved | denied | expired`` and the run
``waiting_approval → queued`` in one transaction, each a compare-and-set, so of two
deciders exactly one wins; the caller then enqueues the run, and the executor's claim
resumes it from its persisted steps (``store.claim_run``). ``cancel_waiting`` ends a
waiting run (its approval is denied with it).

Waiting runs have no heartbeat: the lost-run sweep moves only ``running`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select, update

from galaxyco_ui import notifications
from galaxyco_ui.auth.permissions import ROLE_PERMISSIONS, Permission
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, RunStep, ToolApproval, new_id, utcnow
from galaxyco_ui.runs.notices import agent_name, record_run_notice
from galaxyco_ui.runs.usage import record_run_usage
from galaxyco_ui.webhooks.events import record_run_event

HTTP_WRITE = "http_request:write"  # http_request with POST, PUT, PATCH or DELETE (not GET, HEAD)
READ_METHODS = frozenset({"GET", "HEAD"})
TIMED_OUT = "timed out"
CANCELLED_NOTE = "The run was cancelled."
CANCELLED_ERROR = "Cancelled while it waited for approval."
# Who is told and who may decide: the members who may run the agent.
DECIDER_ROLES = tuple(
    str(role) for role, grants in ROLE_PERMISSIONS.items() if Permission.RUN_AGENT in grants
)


def needs_approval(name: str, arguments: dict[str, Any], approval_tools: list[str]) -> bool:
    """Whether a call of tool ``name`` with ``arguments`` must wait for a person."""
    if name in approval_tools:
        return True
    if name == "http_request" and HTTP_WRITE in approval_tools:
        method = str(arguments.get("method") or "GET").upper()
        return method not in READ_METHODS
    return False


@dataclass(frozen=True, slots=True)
class Decision:
    """How a person (or the timeout) decided a call: ``status`` approved, denied or expired."""

    approval_id: str
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """A run just moved to ``waiting_approval``; announce ``notice`` once committed."""

    approval_id: str
    expires_at_iso: str
    notice: notifications.Announcement | None


def request_approval(
    run_id: str, *, call: dict[str, Any], timeout_seconds: int, active_seconds: float
) -> Waiting | None:
    """Persist ``call`` as a step, create its pending approval and move the run to waiting.

    One transaction. ``active_seconds`` (the time the run has executed so far) is kept in
    the run's metadata: the run's timeout counts executing time only. Returns None (and
    changes nothing) if the run is not running or a cancel was requested.
    """
    now = utcnow()
    with session_scope() as session:
        won = session.exec(
            update(Run)
            .where(
                col(Run.id) == run_id,
                col(Run.status) == "running",
                col(Run.cancel_requested_at).is_(None),
            )
            .values(status="waiting_approval", updated_at=now)
        ).rowcount
        if won != 1:
            return None
        run = session.get(Run, run_id)
        assert run is not None
        run.meta = {**run.meta, "active_seconds": round(active_seconds, 3)}
        position = run.step_count
        run.step_count += 1
        approval_id = new_id()
        session.add(
            RunStep(
                run_id=run.id,
                workspace_id=run.workspace_id,
                position=position,
                kind="tool_call",
                content=str(call["name"]),
                data={**call, "approval_id": approval_id},
            )
        )
        approval = ToolApproval(
            id=approval_id,
            workspace_id=run.workspace_id,
            run_id=run.id,
            agent_id=run.agent_id,
            # The step's position first: a model may reuse a call id in a later turn.
            tool_call_id=f"{position}:{call['id']}"[:200],
            tool_name=str(call["name"])[:200],
            arguments=dict(call.get("arguments") or {}),
            expires_at=now + timedelta(seconds=timeout_seconds),
        )
        session.add(approval)
        notice = notifications.record(
            session,
            workspace_id=run.workspace_id,
            kind="approval_requested",
            title=f"{agent_name(run)} asks to run {approval.tool_name}",
            body="A run waits for a person to approve or deny this tool call.",
            link=f"/runs/{run.id}",
            roles=DECIDER_ROLES,
        )
        return Waiting(approval.id, approval.expires_at.isoformat(), notice)


def decisions(session: Session, run_id: str) -> dict[str, Decision]:
    """The run's decided approvals by approval id (its tool_call step's ``approval_id``)."""
    rows = session.exec(
        select(ToolApproval).where(ToolApproval.run_id == run_id, ToolApproval.status != "pending")
    ).all()
    return {a.id: Decision(a.id, a.status, a.note) for a in rows}


def decide(
    session: Session, approval: ToolApproval, *, status: str, note: str, decided_by: str | None
) -> tuple[bool, bool]:
    """Move ``approval`` from pending to ``status`` and its run back to ``queued``, in ``session``.

    Both moves are compare-and-sets. Returns (this decided the approval, this queued the
    run): (False, False) when someone decided first; (True, False) only for a run that no
    longer waits (its approval is closed all the same, and nothing is to be enqueued).
    """
    now = utcnow()
    won = session.exec(
        update(ToolApproval)
        .where(col(ToolApproval.id) == approval.id, col(ToolApproval.status) == "pending")
        .values(status=status, note=note, decided_by=decided_by, decided_at=now)
    ).rowcount
    if won != 1:
        return False, False
    moved = session.exec(
        update(Run)
        .where(col(Run.id) == approval.run_id, col(Run.status) == "waiting_approval")
        .values(status="queued", updated_at=now)
    ).rowcount
    return True, moved == 1


def due_approvals(limit: int = 200) -> list[str]:
    """Pending approvals whose ``expires_at`` has passed, oldest first."""
    with session_scope() as session:
        return list(
            session.exec(
                select(ToolApproval.id)
                .where(ToolApproval.status == "pending", col(ToolApproval.expires_at) < utcnow())
                .order_by(col(ToolApproval.expires_at))
                .limit(limit)
            ).all()
        )


def expire(approval_id: str) -> tuple[str, str] | None:
    """Deny one overdue approval as timed out and queue its run; (run id, workspace id) if this won."""
    with session_scope() as session:
        approval = session.get(ToolApproval, approval_id)
        if approval is None or approval.status != "pending":
            return None
        _, queued = decide(session, approval, status="expired", note=TIMED_OUT, decided_by=None)
        return (approval.run_id, approval.workspace_id) if queued else None


def cancel_waiting(
    run_id: str, *, user_id: str
) -> tuple[list[str], notifications.Announcement | None] | None:
    """Cancel a run that waits for approval (its pending approval denied with it).

    A compare-and-set on ``waiting_approval``: None if the run was not waiting (an
    approval queued it first: it is then cancelled by its signal or while queued).
    Returns the webhook deliveries and the notice to send once committed.
    """
    now = utcnow()
    with session_scope() as session:
        won = session.exec(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == "waiting_approval")
            .values(
                status="cancelled",
                error=CANCELLED_ERROR,
                finished_at=now,
                updated_at=now,
                cancel_requested_at=now,
            )
        ).rowcount
        if won != 1:
            return None
        session.exec(
            update(ToolApproval)
            .where(col(ToolApproval.run_id) == run_id, col(ToolApproval.status) == "pending")
            .values(status="denied", note=CANCELLED_NOTE, decided_by=user_id or None, decided_at=now)
        )
        run = session.get(Run, run_id)
        assert run is not None
        deliveries = record_run_event(session, run)
        notice = record_run_notice(session, run)
        record_run_usage(session, run)
        return deliveries, notice
