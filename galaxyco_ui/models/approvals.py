"""Tool calls waiting for a person: a run in ``waiting_approval`` has one pending row here.

A row is created, with the run's move to ``waiting_approval``, when the model calls a
tool its agent marks "ask before running" (``agents.approval_tools``). ``status`` moves
once, by compare-and-set, from ``pending`` to ``approved``, ``denied`` or ``expired`` (the
agent's ``approval_timeout_seconds`` passed): of two approvers clicking together one wins.
``note`` is the decider's optional note, which the model sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import new_id, utcnow

APPROVAL_STATUSES = ("pending", "approved", "denied", "expired")


class ToolApproval(SQLModel, table=True):
    __tablename__ = "tool_approvals"
    __table_args__ = (
        UniqueConstraint("run_id", "tool_call_id", name="uq_tool_approvals_run_id_tool_call_id"),
        # The inbox: what waits in a workspace, oldest first.
        Index("ix_tool_approvals_workspace_id_status_created_at", "workspace_id", "status", "created_at"),
        # The timeout sweep.
        Index("ix_tool_approvals_status_expires_at", "status", "expires_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    run_id: str = Field(foreign_key="runs.id", max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    tool_call_id: str = Field(max_length=200)
    tool_name: str = Field(max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="pending", max_length=16)
    note: str = Field(default="", sa_type=Text)
    decided_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    decided_at: datetime | None = None
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
