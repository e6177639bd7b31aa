"""What the knowledge screens show: collection, item and chunk views, built from rows.

Conversions only: the caller has already checked permissions and scoped the rows to its
workspace. A view's ``can_edit`` says whether the caller may change what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

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
    return collection_views(session, ctx, [collection])[0]


def collection_views(
    session: Session, ctx: TenantContext, collections: Sequence[KnowledgeCollection]
) -> list[CollectionView]:
    """Views of ``collections`` with their item counts: two queries however many there are."""
    ids = [c.id for c in collections]
    counts: dict[str, dict[str, int]] = {cid: {} for cid in ids}
    sizes: dict[str, int] = dict.fromkeys(ids, 0)
    if ids:
        rows = session.exec(
            select(
                KnowledgeItem.collection_id,
                KnowledgeItem.status,
                func.count(),
                func.coalesce(func.sum(KnowledgeItem.size_bytes), 0),
            )
            .where(col(KnowledgeItem.collection_id).in_(ids))
            .group_by(KnowledgeItem.collection_id, KnowledgeItem.status)
        ).all()
        for collection_id, status, count, size in rows:
            counts[collection_id][status] = int(count)
            sizes[collection_id] += int(size or 0)
    creator_ids = {c.created_by for c in collections if c.created_by}
    names = (
        dict(session.exec(select(User.id, User.name).where(col(User.id).in_(creator_ids))).all())
        if creator_ids
        else {}
    )
    views = []
    for collection in collections:
        by_status = counts[collection.id]
        views.append(
            CollectionView(
                id=collection.id,
                name=collection.name,
                description=collection.description,
                item_count=sum(by_status.values()),
                ready_count=by_status.get(ItemStatus.READY, 0),
                pending_count=by_status.get(ItemStatus.QUEUED, 0) + by_status.get(ItemStatus.PROCESSING, 0),
                failed_count=by_status.get(ItemStatus.FAILED, 0),
                size_bytes=sizes[collection.id],
                created_by_name=names.get(collection.created_by or "", ""),
                created_at=collection.created_at,
                updated_at=collection.updated_at,
                can_edit=can(ctx, Permission.EDIT_KNOWLEDGE, owner_id=collection.created_by or ""),
            )
        )
    return views


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
