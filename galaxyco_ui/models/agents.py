"""Agents: a model, its instructions, tools and limits, owned by a workspace."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Text, func, text
from sqlmodel import Field

from galaxyco_ui.models.base import TenantMixin, new_id


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
    deleted_at: datetime | None = None
