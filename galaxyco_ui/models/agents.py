"""Agents: a model, its instructions, tools and limits, owned by a workspace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import TenantMixin, new_id, utcnow


class Agent(TenantMixin, table=True):
    __tablename__ = "agents"
    __table_args__ = (
        Index("ix_agents_workspace_id_updated_at", "workspace_id", "updated_at"),
        # Names are unique per workspace among agents that are not deleted.
        Index(
            "uq_agents_workspace_id_name_live",
            "workspace_id",
            func.lower(text("name")),
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    description: str = Field(default="", max_length=500)
    provider: str = Field(max_length=32)
    model: str = Field(max_length=120)
    instructions: str = Field(default="", sa_type=Text)
    temperature: float = Field(default=0.7)
    max_steps: int = Field(default=8)
    max_output_tokens: int = Field(default=1024)
    tools: list[str] = Field(default_factory=list, sa_type=JSON)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    # Knowledge collections the agent's knowledge_search tool may read.
    knowledge_collection_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    # Entries of ``tools`` the run must ask a person about before calling ("ask before running").
    approval_tools: list[str] = Field(default_factory=list, sa_type=JSON)
    # A call nobody decided on within this many seconds is denied automatically.
    approval_timeout_seconds: int = Field(default=3600)
    # The number of the agent's latest ``AgentVersion`` (0: none yet).
    version: int = Field(default=0)
    deleted_at: datetime | None = None


class AgentVersion(SQLModel, table=True):
    """One immutable saved configuration of an agent; every save adds the next number.

    ``config`` is the agent's configuration as runs record it (``runs.store.agent_snapshot``):
    name, provider, model, instructions, temperature, limits, tools, approvals, collections.
    """

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "number", name="uq_agent_versions_agent_id_number"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    number: int
    config: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # What made it: "" for an edit, "restore of 3" for a restore.
    note: str = Field(default="", max_length=200)
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
