"""Knowledge: collections, uploaded items, their chunks, and search.

Permissions: everyone in the workspace reads and searches; members and admins create
collections and upload; members rename, delete and re-index what they created, admins
anything. Every lookup is scoped to ``ctx.workspace_id``: an id from another workspace
is "not found", never "forbidden".

Uploading stores the original (``knowledge.storage``), records the item as ``queued``
and hands its id to the ingestion queue (``knowledge.ingest``); the same content in the
same collection is recognised by its SHA-256 and not stored or indexed twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, BinaryIO

from pydantic import BaseModel, StringConstraints, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, can, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import storage
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.sniffing import detect_kind
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentError, DocumentKind
from galaxyco_ui.models import (
    Agent,
    ItemStatus,
    KnowledgeCollection,
    KnowledgeItem,
    User,
    utcnow,
)
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import lookup_id, name_key, one_line, parse
from galaxyco_ui.services.workspaces import find_membership


class CollectionInput(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""

    @field_validator("name", mode="before")
    @classmethod
    def _one_line_name(cls, v: object) -> object:
        return one_line(v) if isinstance(v, str) else v


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


# ---------------------------------------------------------------- collections


def list_collections(*, ctx: TenantContext) -> list[CollectionView]:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        collections = session.exec(
            select(KnowledgeCollection)
            .where(KnowledgeCollection.workspace_id == ctx.workspace_id)
            .order_by(func.lower(KnowledgeCollection.name))
        ).all()
        return [_collection_view(session, ctx, c) for c in collections]


def get_collection(*, ctx: TenantContext, collection_id: str) -> CollectionView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return _collection_view(session, ctx, collection_in_workspace(session, ctx, collection_id))


def create_collection(*, ctx: TenantContext, data: dict[str, object]) -> CollectionView:
    """Create a collection (members and up).

    Raises:
        ConflictError: another collection of the workspace has that name.
    """
    require(ctx, Permission.UPLOAD_KNOWLEDGE)
    values = parse(CollectionInput, data)
    with session_scope() as session:
        _check_name_free(session, ctx, values.name)
        collection = KnowledgeCollection(
            workspace_id=ctx.workspace_id, created_by=ctx.user_id, **values.model_dump()
        )
        session.add(collection)
        _flush_or_conflict(session)
        audit.record(
            session,
            ctx,
            "knowledge.collection_created",
            summary=f"Created knowledge collection “{collection.name}”",
            target_type="knowledge_collection",
            target_id=collection.id,
        )
        return _collection_view(session, ctx, collection)


def update_collection(*, ctx: TenantContext, collection_id: str, data: dict[str, object]) -> CollectionView:
    """Rename or re-describe a collection (its creator, admins and owners)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    values = parse(CollectionInput, data)
    with session_scope() as session:
        collection = collection_in_workspace(session, ctx, collection_id)
        require(ctx, Permission.EDIT_KNOWLEDGE, owner_id=collection.created_by or "")
        _check_name_free(session, ctx, values.name, exclude_id=collection.id)
        old_name = collection.name
        collection.name = values.name
        collection.description = values.description
        collection.updated_at = utcnow()
        _flush_or_conflict(session)
        audit.record(
            session,
            ctx,
            "knowledge.collection_updated",
            summary=f"Edited knowledge collection “{collection.name}”"
            + (f" (was “{old_name}”)" if old_name != collection.name else ""),
            target_type="knowledge_collection",
            target_id=collection.id,
        )
        return _collection_view(session, ctx, collection)


def delete_collection(*, ctx: TenantContext, collection_id: str) -> None:
    """Delete a collection, its items, their originals and their chunks.

    Agents that searched it stop doing so (the id is removed from them).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        collection = collection_in_workspace(session, ctx, collection_id)
        require(ctx, Permission.EDIT_KNOWLEDGE, owner_id=collection.created_by or "")
        items = session.exec(select(KnowledgeItem).where(KnowledgeItem.collection_id == collection.id)).all()
        item_ids = [item.id for item in items]
        for item in items:
            session.delete(item)
        for agent in session.exec(select(Agent).where(Agent.workspace_id == ctx.workspace_id)).all():
            if collection.id in agent.knowledge_collection_ids:
                agent.knowledge_collection_ids = [
                    c for c in agent.knowledge_collection_ids if c != collection.id
                ]
                session.add(agent)
        session.delete(collection)
        audit.record(
            session,
            ctx,
            "knowledge.collection_deleted",
            summary=f"Deleted knowledge collection “{collection.name}” ({len(item_ids)} items)",
            target_type="knowledge_collection",
            target_id=collection.id,
        )
    # After the commit: a failure here leaves orphaned bytes, never a dangling row.
    get_index().delete_collection(ctx.workspace_id, collection_id)
    for item_id in item_ids:
        storage.delete_original(ctx.workspace_id, item_id)


def collection_choices(*, ctx: TenantContext) -> list[tuple[str, str]]:
    """(id, name) of every collection, for the agent form."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = session.exec(
            select(KnowledgeCollection.id, KnowledgeCollection.name)
            .where(KnowledgeCollection.workspace_id == ctx.workspace_id)
            .order_by(func.lower(KnowledgeCollection.name))
        ).all()
        return [(cid, name) for cid, name in rows]


def existing_collection_ids(session: Session, workspace_id: str, ids: list[str]) -> list[str]:
    """The subset of ``ids`` that are collections of the workspace, in the given order."""
    ids = [i for i in ids if lookup_id(i)]
    if not ids:
        return []
    found = set(
        session.exec(
            select(KnowledgeCollection.id).where(
                KnowledgeCollection.workspace_id == workspace_id, col(KnowledgeCollection.id).in_(ids)
            )
        ).all()
    )
    return [i for i in ids if i in found]


# ---------------------------------------------------------------- items


def list_items(*, ctx: TenantContext, collection_id: str) -> list[ItemView]:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        collection = collection_in_workspace(session, ctx, collection_id)
        rows = session.exec(
            select(KnowledgeItem, User.name)
            .join(User, col(User.id) == col(KnowledgeItem.created_by), isouter=True)
            .where(
                KnowledgeItem.workspace_id == ctx.workspace_id,
                KnowledgeItem.collection_id == collection.id,
            )
            .order_by(col(KnowledgeItem.created_at).desc(), col(KnowledgeItem.id))
        ).all()
        return [_item_view(ctx, item, collection.name, name) for item, name in rows]


def get_item(*, ctx: TenantContext, item_id: str) -> ItemView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        return _item_view_loaded(session, ctx, item)


def item_statuses(*, ctx: TenantContext, item_ids: list[str]) -> dict[str, tuple[str, int, str, int]]:
    """id → (status, progress, error, chunk_count) for the items still shown (live view)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    item_ids = [i for i in item_ids if lookup_id(i)]
    if not item_ids:
        return {}
    with session_scope() as session:
        rows = session.exec(
            select(
                KnowledgeItem.id,
                KnowledgeItem.status,
                KnowledgeItem.progress,
                KnowledgeItem.error,
                KnowledgeItem.chunk_count,
            ).where(KnowledgeItem.workspace_id == ctx.workspace_id, col(KnowledgeItem.id).in_(item_ids))
        ).all()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


async def upload_item(
    *, ctx: TenantContext, collection_id: str, filename: str, source: BinaryIO
) -> UploadOutcome:
    """Store one uploaded file and queue it for indexing.

    The type is decided from the content; the name is only shown (and breaks ties
    between text formats).

    Raises:
        ValidationError: too large, an unsupported or disallowed type.
        NotFoundError: the collection is not in this workspace.
    """
    outcome = await asyncio.to_thread(
        _store_upload, ctx=ctx, collection_id=collection_id, filename=filename, source=source
    )
    if not outcome.duplicate:
        from galaxyco_ui.knowledge.ingest import enqueue_ingest

        await enqueue_ingest(outcome.item.id)
    return outcome


def _store_upload(
    *, ctx: TenantContext, collection_id: str, filename: str, source: BinaryIO
) -> UploadOutcome:
    require(ctx, Permission.UPLOAD_KNOWLEDGE)
    name = _clean_filename(filename)
    with session_scope() as session:
        collection_in_workspace(session, ctx, collection_id)
    staged = storage.stage_upload(ctx.workspace_id, source)
    try:
        if staged.size == 0:
            raise ValidationError({"file": f"“{name}” is empty."})
        try:
            kind = detect_kind(staged.path, name)
        except DocumentError as error:
            raise ValidationError({"file": f"“{name}”: {error.message}"}) from None
        allowed = get_settings().knowledge_allowed_types
        if kind.value not in allowed:
            labels = ", ".join(KIND_LABELS[DocumentKind(k)] for k in allowed if k in list(DocumentKind))
            raise ValidationError(
                {
                    "file": f"“{name}” is a {KIND_LABELS[kind]} file, which this workspace does not accept ({labels})."
                }
            )
        with session_scope() as session:
            collection = collection_in_workspace(session, ctx, collection_id)
            existing = session.exec(
                select(KnowledgeItem).where(
                    KnowledgeItem.collection_id == collection.id, KnowledgeItem.content_hash == staged.sha256
                )
            ).first()
            if existing is not None:
                storage.discard(staged.path)
                return UploadOutcome(item=_item_view_loaded(session, ctx, existing), duplicate=True)
            item = KnowledgeItem(
                workspace_id=ctx.workspace_id,
                created_by=ctx.user_id,
                collection_id=collection.id,
                name=name,
                kind=kind.value,
                size_bytes=staged.size,
                content_hash=staged.sha256,
                status=ItemStatus.QUEUED,
            )
            session.add(item)
            try:
                session.flush()
            except IntegrityError:
                # The same content raced in from another upload: report it as the duplicate.
                session.rollback()
                storage.discard(staged.path)
                with session_scope() as again:
                    existing = again.exec(
                        select(KnowledgeItem).where(
                            KnowledgeItem.collection_id == collection_id,
                            KnowledgeItem.content_hash == staged.sha256,
                        )
                    ).one()
                    return UploadOutcome(item=_item_view_loaded(again, ctx, existing), duplicate=True)
            storage.keep(staged, ctx.workspace_id, item.id)
            audit.record(
                session,
                ctx,
                "knowledge.item_uploaded",
                summary=f"Uploaded “{item.name}” to “{collection.name}”",
                target_type="knowledge_item",
                target_id=item.id,
                data={"size_bytes": item.size_bytes, "kind": item.kind},
            )
            return UploadOutcome(item=_item_view_loaded(session, ctx, item), duplicate=False)
    finally:
        storage.discard(staged.path)  # no-op once kept


async def reindex_item(*, ctx: TenantContext, item_id: str) -> ItemView:
    """Parse, chunk and index an item again from its original."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        require(ctx, Permission.EDIT_KNOWLEDGE, owner_id=item.created_by or "")
        if item.status in (ItemStatus.QUEUED, ItemStatus.PROCESSING):
            raise ValidationError({"item": "This item is already being indexed."})
        item.status = ItemStatus.QUEUED
        item.progress = 0
        item.error = ""
        item.updated_at = utcnow()
        session.add(item)
        view = _item_view_loaded(session, ctx, item)
    from galaxyco_ui.knowledge.ingest import enqueue_ingest

    await enqueue_ingest(item_id)
    return view


def delete_item(*, ctx: TenantContext, item_id: str) -> None:
    """Delete an item: its row, its original and its chunks (search stops finding it)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        require(ctx, Permission.EDIT_KNOWLEDGE, owner_id=item.created_by or "")
        session.delete(item)
        audit.record(
            session,
            ctx,
            "knowledge.item_deleted",
            summary=f"Deleted “{item.name}” from knowledge",
            target_type="knowledge_item",
            target_id=item.id,
        )
    get_index().delete_item(ctx.workspace_id, item_id)
    storage.delete_original(ctx.workspace_id, item_id)


def item_chunks(*, ctx: TenantContext, item_id: str) -> list[ChunkView]:
    """The chunks of an item as the agent sees them, in document order."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        _item(session, ctx, item_id)
    return [
        ChunkView(ordinal=r.ordinal, text=r.text, heading=r.heading, page=r.page, token_count=r.token_count)
        for r in get_index().item_chunks(ctx.workspace_id, item_id)
    ]


def context_for_item(
    *, user_id: str, item_id: str, session_id: str | None = None, ip: str = ""
) -> TenantContext:
    """The caller's context in the workspace that holds ``item_id``.

    Raises:
        NotFoundError: no such item, or the user is not a member of its workspace.
    """
    item_id = lookup_id(item_id)
    with session_scope() as session:
        item = session.get(KnowledgeItem, item_id) if item_id else None
        membership = (
            find_membership(session, workspace_id=item.workspace_id, user_id=user_id)
            if item is not None
            else None
        )
        if item is None or membership is None:
            raise NotFoundError("That document")
        return TenantContext(
            user_id=user_id,
            workspace_id=item.workspace_id,
            role=Role(membership.role),
            session_id=session_id,
            ip=ip,
        )


def open_original(*, ctx: TenantContext, item_id: str) -> tuple[Path, str, str]:
    """The original file of an item: (path, download name, media type).

    Raises:
        NotFoundError: no such item in this workspace, or its file is gone.
    """
    from galaxyco_ui.knowledge.types import KIND_MEDIA_TYPES

    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        path = storage.original_path(ctx.workspace_id, item.id)
        if not path.is_file():
            raise NotFoundError("The original file")
        return path, item.name, KIND_MEDIA_TYPES[DocumentKind(item.kind)]


# ---------------------------------------------------------------- helpers


def collection_in_workspace(session: Session, ctx: TenantContext, collection_id: str) -> KnowledgeCollection:
    """The workspace's collection ``collection_id``, else ``NotFoundError``."""
    collection_id = lookup_id(collection_id)
    collection = session.get(KnowledgeCollection, collection_id) if collection_id else None
    if collection is None or collection.workspace_id != ctx.workspace_id:
        raise NotFoundError("That collection")
    return collection


def _item(session: Session, ctx: TenantContext, item_id: str) -> KnowledgeItem:
    item_id = lookup_id(item_id)
    item = session.get(KnowledgeItem, item_id) if item_id else None
    if item is None or item.workspace_id != ctx.workspace_id:
        raise NotFoundError("That document")
    return item


def _check_name_free(session: Session, ctx: TenantContext, name: str, exclude_id: str | None = None) -> None:
    # Compared in Python with validation.name_key: SQLite's lower() folds ASCII only.
    key = name_key(name)
    rows = session.exec(
        select(KnowledgeCollection.id, KnowledgeCollection.name).where(
            KnowledgeCollection.workspace_id == ctx.workspace_id
        )
    ).all()
    if any(name_key(other) == key for collection_id, other in rows if collection_id != exclude_id):
        raise ConflictError({"name": "A collection with this name already exists."})


def _flush_or_conflict(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError({"name": "A collection with this name already exists."}) from None


def _clean_filename(filename: str) -> str:
    # Unprintable characters go: NUL, lone surrogates, and text-direction controls that
    # would make "gpj.exe" display as "exe.jpg".
    base = (filename if isinstance(filename, str) else "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return (base or "Untitled")[:255]


def _collection_view(session: Session, ctx: TenantContext, collection: KnowledgeCollection) -> CollectionView:
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
        updated_at=collection.updated_at,
        can_edit=can(ctx, Permission.EDIT_KNOWLEDGE, owner_id=collection.created_by or ""),
    )


def _item_view_loaded(session: Session, ctx: TenantContext, item: KnowledgeItem) -> ItemView:
    collection = session.get(KnowledgeCollection, item.collection_id)
    uploader = session.get(User, item.created_by) if item.created_by else None
    return _item_view(ctx, item, collection.name if collection else "", uploader.name if uploader else None)


def _item_view(
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
