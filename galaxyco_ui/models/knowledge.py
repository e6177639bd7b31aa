"""Knowledge: collections of uploaded documents (items) that agents can search.

The originals live on disk under ``data/uploads/{workspace_id}/`` and the chunks in
the LanceDB index (``knowledge.index``); these tables hold what the screens list and
the ingestion status.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, func, text
from sqlmodel import Field

from galaxyco_ui.models.base import TenantMixin, new_id


class ItemStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class KnowledgeCollection(TenantMixin, table=True):
    __tablename__ = "knowledge_collections"
    __table_args__ = (
        Index(
            "uq_knowledge_collections_workspace_id_name",
            "workspace_id",
            func.lower(text("name")),
            unique=True,
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    description: str = Field(default="", max_length=500)


class KnowledgeItem(TenantMixin, table=True):
    __tablename__ = "knowledge_items"
    __table_args__ = (
        # The same content is indexed once per collection.
        UniqueConstraint("collection_id", "content_hash", name="uq_knowledge_items_collection_hash"),
        Index("ix_knowledge_items_workspace_id_collection_id", "workspace_id", "collection_id"),
        Index("ix_knowledge_items_status", "status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    collection_id: str = Field(foreign_key="knowledge_collections.id", max_length=32)
    name: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    size_bytes: int
    content_hash: str = Field(max_length=64)
    status: str = Field(default=ItemStatus.QUEUED, max_length=16)
    progress: int = Field(default=0)  # percent, while processing
    error: str = Field(default="", max_length=1000)
    chunk_count: int = Field(default=0)
    page_count: int | None = None
    char_count: int = Field(default=0)
    embedding_model: str = Field(default="", max_length=80)
    indexed_at: datetime | None = None
