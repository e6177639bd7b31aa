"""Runs: one execution of an agent, its ordered steps, and the schedules that start runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import TenantMixin, new_id, utcnow

RUN_STATUSES = ("queued", "running", "waiting_approval", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
TRIGGERS = ("manual", "schedule", "api", "webhook", "mcp")
# How the screens and the usage filters name each trigger.
TRIGGER_LABELS = {
    "manual": "Manual",
    "schedule": "Schedule",
    "api": "API",
    "webhook": "Webhook",
    "mcp": "MCP",
}


class Run(TenantMixin, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_workspace_id_created_at", "workspace_id", "created_at"),
        # Status filters page by time too; the concurrent-run count uses the prefix.
        Index("ix_runs_workspace_id_status_created_at", "workspace_id", "status", "created_at"),
        Index(
            "ix_runs_workspace_id_agent_id_status_created_at",
            "workspace_id",
            "agent_id",
            "status",
            "created_at",
        ),
        Index("ix_runs_workspace_id_agent_id_created_at", "workspace_id", "agent_id", "created_at"),
        Index("ix_runs_status_heartbeat_at", "status", "heartbeat_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    status: str = Field(default="queued", max_length=16)
    trigger: str = Field(default="manual", max_length=16)
    input: str = Field(default="", sa_type=Text)
    output: str = Field(default="", sa_type=Text)
    error: str = Field(default="", sa_type=Text)
    # The agent's configuration as it ran: later edits to the agent never rewrite history.
    agent_snapshot: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    input_tokens: int = Field(default=0)
    output_tokens: int = Field(default=0)
    # None means "unknown" (a model without a price), never zero.
    cost_usd: float | None = Field(default=None, sa_type=Numeric(12, 6))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    schedule_id: str | None = Field(default=None, max_length=32)
    retry_of: str | None = Field(default=None, max_length=32)
    step_count: int = Field(default=0)
    # The ``AgentVersion.number`` this run ran (None: a run from before versions existed).
    agent_version: int | None = None


class RunStep(SQLModel, table=True):
    """One model turn, tool call or tool result, persisted as it completes."""

    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_run_steps_run_id_position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32, index=True)
    run_id: str = Field(foreign_key="runs.id", max_length=32)
    position: int
    kind: str = Field(max_length=16)  # "model" | "tool_call" | "tool_result"
    content: str = Field(default="", sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    duration_ms: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)


class Schedule(TenantMixin, table=True):
    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_workspace_id_agent_id", "workspace_id", "agent_id"),
        Index("ix_schedules_enabled_next_fire_at", "enabled", "next_fire_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    cron: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    input: str = Field(default="", sa_type=Text)
    enabled: bool = Field(default=True)
    next_fire_at: datetime | None = None
    last_fired_at: datetime | None = None
    last_run_id: str | None = Field(default=None, max_length=32)
    # Run this version of the agent (None: always the latest).
    agent_version: int | None = None
    deleted_at: datetime | None = None
