"""Audit events: who changed what in a workspace, append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field

from galaxyco_ui.models.base import TenantMixin, new_id


class AuditEvent(TenantMixin, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_workspace_id_created_at", "workspace_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    action: str = Field(max_length=64)
    target_type: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64)
    summary: str = Field(default="", max_length=300)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
