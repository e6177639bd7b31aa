"""What the knowledge screens show: collection, item and chunk views, built from rows.

Conversions only: the caller has already checked permissions and scoped the rows to its
workspace. A view's ``can_edit`` says whether the caller may change what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, func, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentKind
from galaxyco_ui.models import ItemStatus, KnowledgeCollection, KnowledgeItem, User


class CollectionView(BaseModel):
    id: str
    name: str
    description: str
    item_count: int
    ready_count: int
    pending_count: int
    failed_count: int
    size_bytes: int
    created_by_name: str
    created_at: datetime
    updated_at: datetime
    can_edit: bool


class ItemView(BaseModel):
    id: str
    collection_id: str
    collection_name: str
    name: str
    kind: str
    kind_label: str
    size_bytes: int
    status: str
    progress: int
    error: str
    chunk_count: int
    page_count: int | None
    char_count: int
    uploaded_by_name: str
    created_at: datetime
    indexed_at: datetime | None
    can_edit: bool
    embedding_model: str = ""  # the model its vectors came from; "" = full text only


class ChunkView(BaseModel):
    ordinal: int
    text: str
    heading: str
    page: int | None
    token_count: int


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """What became of one uploaded file: a new queued item, or the existing duplicate."""

    item: ItemView
    duplicate: bool


def collection_view(session: Session, ctx: TenantContext, collection: KnowledgeCollection) -> CollectionView:
    counts = dict(
        session.exec(
            select(KnowledgeItem.status, func.count())
            .where(KnowledgeItem.collection_id == collection.id)
            .group_by(KnowledgeItem.status)
        ).all()
    )
    size = session.exec(
        select(func.coalesce(func.sum(KnowledgeItem.size_bytes), 0)).where(
            KnowledgeItem.collection_id == collection.id
        )
    ).one()
    creator = session.get(User, collection.created_by) if collection.created_by else None
    return CollectionView(
        id=collection.id,
        name=collection.name,
        description=collection.description,
        item_count=sum(counts.values()),
        ready_count=counts.get(ItemStatus.READY, 0),
        pending_count=counts.get(ItemStatus.QUEUED, 0) + counts.get(ItemStatus.PROCESSING, 0),
        failed_count=counts.get(ItemStatus.FAILED, 0),
        size_bytes=int(size or 0),
        created_by_name=creator.name if creator else "",
        created_at=collection.created_at,
        updated_at=collection.updated_at,
        can_edit=can(ctx, Permission.EDIT_KNOWLEDGE, owner_id=collection.created_by or ""),
    )


def item_view_loaded(session: Session, ctx: TenantContext, item: KnowledgeItem) -> ItemView:
    collection = session.get(KnowledgeCollection, item.collection_id)
    uploader = session.get(User, item.created_by) if item.created_by else None
    return item_view(ctx, item, collection.name if collection else "", uploader.name if uploader else None)


def item_view(
    ctx: TenantContext, item: KnowledgeItem, collection_name: str, uploader: str | None
) -> ItemView:
    kind = DocumentKind(item.kind)
    return ItemView(
        id=item.id,
        collection_id=item.collection_id,
        collection_name=collection_name,
        name=item.name,
        kind=item.kind,
        kind_label=KIND_LABELS[kind],
        size_bytes=item.size_bytes,
        status=item.status,
        progress=item.progress,
        error=item.error,
        chunk_count=item.chunk_count,
        page_count=item.page_count,
        char_count=item.char_count,
        uploaded_by_name=uploader or "",
        created_at=item.created_at,
        indexed_at=item.indexed_at,
        can_edit=can(ctx, Permission.EDIT_KNOWLEDGE, owner_id=item.created_by or ""),
        embedding_model=item.embedding_model,
    )
