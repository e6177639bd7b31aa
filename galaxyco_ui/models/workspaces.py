"""Workspaces (the tenants), their members and pending invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from galaxyco_ui.models.base import MetadataMixin, TenantMixin, TimestampMixin, new_id


class Workspace(TimestampMixin, MetadataMixin, table=True):
    __tablename__ = "workspaces"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    # "" = full-text search only; else an id from ``knowledge.embeddings.EMBEDDING_MODELS``.
    embedding_model: str = Field(default="", max_length=80)
    # API requests per minute per key; None = the operator's API_MAX_REQUESTS_PER_MINUTE.
    api_requests_per_minute: int | None = None
    # Run limits chosen in Settings → Limits; None = the operator's maximum
    # (WORKSPACE_MAX_CONCURRENT_RUNS, WORKSPACE_MAX_RUN_STARTS_PER_MINUTE), never above it.
    max_concurrent_runs: int | None = None
    run_starts_per_minute: int | None = None
    deleted_at: datetime | None = None


class WorkspaceMember(TenantMixin, table=True):
    __tablename__ = "workspace_members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id", name="uq_workspace_members_workspace_user"),
        Index("ix_workspace_members_user_id", "user_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    role: str = Field(max_length=16)


class Invitation(TenantMixin, table=True):
    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_workspace_id_email", "workspace_id", "email"),
        Index("ix_invitations_token_hash", "token_hash", unique=True),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64)
    # Encrypted so admins can copy the link again later; only the hash is looked up.
    token_encrypted: str = Field(default="", max_length=500)
    status: str = Field(default="pending", max_length=16)
    expires_at: datetime
    responded_at: datetime | None = None
    responded_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
