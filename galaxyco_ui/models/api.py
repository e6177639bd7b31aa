"""The platform API's tables: workspace API keys, idempotent POST results, and the
per-agent trigger URLs (webhooks in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import TenantMixin, new_id, utcnow


class ApiKey(TenantMixin, table=True):
    """A workspace API key. The secret (``gx_…``) is shown once; only its SHA-256 is kept."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_workspace_id_created_at", "workspace_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    # The role the key acts with: admin, member or viewer (never above its creator's).
    role: str = Field(max_length=16)
    # The first characters of the secret, shown in lists so a key can be recognised.
    prefix: str = Field(max_length=16)
    secret_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=32)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a create POST sent with an ``Idempotency-Key`` (kept 24 h)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_api_key_id_key"),
        Index("ix_idempotency_records_created_at", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    api_key_id: str = Field(foreign_key="api_keys.id", max_length=32)
    key: str = Field(max_length=255)
    # SHA-256 of method, path and body: the same key with another request is a conflict.
    request_hash: str = Field(max_length=64)
    status_code: int = Field(default=0)  # 0 while the first request is still being served
    response_body: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class AgentHook(TenantMixin, table=True):
    """An agent's trigger URL ``/api/v1/hooks/{token}``: a POST there starts a run."""

    __tablename__ = "agent_hooks"
    __table_args__ = (UniqueConstraint("agent_id", name="uq_agent_hooks_agent_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    # Encrypted so the agent page can show the URL again; lookups use the hash.
    token_encrypted: str = Field(max_length=500)
    # How the request body becomes the run's input, e.g. "Summarise: {{ body.text }}".
    input_template: str = Field(default="{{ body }}", sa_type=Text)
    enabled: bool = Field(default=True)


class WebhookEndpoint(TenantMixin, table=True):
    """A URL that receives signed events (Standard Webhooks) from the workspace."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_workspace_id", "workspace_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    events: list[str] = Field(default_factory=list, sa_type=JSON)
    # ``whsec_…`` encrypted at rest; shown to admins so receivers can verify signatures.
    secret_encrypted: str = Field(max_length=500)
    enabled: bool = Field(default=True)
    disabled_reason: str = Field(default="", max_length=300)
    consecutive_failures: int = Field(default=0)
    deleted_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint, retried with backoff until delivered or 24 h old."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)  # the webhook-id
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=32)
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="pending", max_length=16)  # pending | delivered | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_response_snippet: str = Field(default="", max_length=500)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class WebhookAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery: what the receiver answered and how fast."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    delivery_id: str = Field(foreign_key="webhook_deliveries.id", max_length=32)
    attempt: int
    status_code: int | None = None
    latency_ms: int = Field(default=0)
    response_snippet: str = Field(default="", max_length=500)
    error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
