"""Provider keys: a workspace's credentials for one LLM provider, stored encrypted only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from galaxyco_ui.models.base import TenantMixin, new_id


class ProviderKey(TenantMixin, table=True):
    """A workspace's credentials for one provider; the key is stored encrypted only."""

    __tablename__ = "provider_keys"
    __table_args__ = (
        UniqueConstraint("workspace_id", "provider", name="uq_provider_keys_workspace_provider"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    provider: str = Field(max_length=32)
    api_key_encrypted: str = Field(max_length=2000)
    last4: str = Field(max_length=4)
    base_url: str = Field(default="", max_length=500)
    last_test_ok: bool | None = None
    last_test_message: str = Field(default="", max_length=500)
    last_tested_at: datetime | None = None
