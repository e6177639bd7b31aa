"""Shared columns and helpers for SQLModel tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (SQLModel's ``UTCDateTime`` stores it)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random, unguessable primary key."""
    return uuid.uuid4().hex


class TimestampMixin(SQLModel):
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False)


class MetadataMixin(SQLModel):
    # ``metadata`` is reserved by SQLAlchemy's declarative base, hence the attribute name.
    meta: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSON, sa_column_kwargs={"name": "metadata"}, nullable=False
    )


class TenantMixin(TimestampMixin, MetadataMixin):
    """Columns every tenant-owned row carries."""

    workspace_id: str = Field(foreign_key="workspaces.id", nullable=False, max_length=32)
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
