"""Knowledge items: upload, list, read, re-index and delete documents, and serve originals.

Everyone in the workspace reads; members and admins upload; members re-index and delete
what they uploaded, admins anything. Every lookup is scoped to ``ctx.workspace_id``: an id
from another workspace is "not found", never "forbidden".

Uploading stores the original (``knowledge.storage``), records the item as ``queued``
and hands its id to the ingestion queue (``knowledge.ingest``); the same content in the
same collection is recognised by its SHA-256 and not stored or indexed twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import ingest, storage
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.sniffing import detect_kind
from galaxyco_ui.knowledge.types import KIND_LABELS, KIND_MEDIA_TYPES, DocumentError, DocumentKind
from galaxyco_ui.models import ItemStatus, KnowledgeItem, User, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.knowledge_collections import collection_in_workspace
from galaxyco_ui.services.knowledge_views import (
    ChunkView,
    ItemView,
    UploadOutcome,
    item_view,
    item_view_loaded,
)
from galaxyco_ui.services.validation import lookup_id
from galaxyco_ui.services.workspaces import find_membership


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
        return [item_view(ctx, item, collection.name, name) for item, name in rows]


def get_item(*, ctx: TenantContext, item_id: str) -> ItemView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        return item_view_loaded(session, ctx, item)


def item_statuses(*, ctx: TenantContext, item_ids: list[str]) -> dict[str, tuple[str, int, str, int]]:
    """id → (status, progress, error, chunk_count) for the items still shown (live view)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    item_ids = [i for i in item_ids if lookup_id(i)]
    if not item_ids:
        return {}
    with session_scope() as session:
        rows = session.exec(
            # sqlmodel types select() for at most four columns; this one takes five.
            select(  # type: ignore[call-overload]  # five columns: see above
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
        await ingest.enqueue_ingest(outcome.item.id)
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
                return UploadOutcome(item=item_view_loaded(session, ctx, existing), duplicate=True)
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
                    return UploadOutcome(item=item_view_loaded(again, ctx, existing), duplicate=True)
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
            return UploadOutcome(item=item_view_loaded(session, ctx, item), duplicate=False)
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
        view = item_view_loaded(session, ctx, item)
    await ingest.enqueue_ingest(item_id)
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
    key = lookup_id(item_id)
    with session_scope() as session:
        item = session.get(KnowledgeItem, key) if key else None
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
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        item = _item(session, ctx, item_id)
        path = storage.original_path(ctx.workspace_id, item.id)
        if not path.is_file():
            raise NotFoundError("The original file")
        return path, item.name, KIND_MEDIA_TYPES[DocumentKind(item.kind)]


def _item(session: Session, ctx: TenantContext, item_id: str) -> KnowledgeItem:
    key = lookup_id(item_id)
    item = session.get(KnowledgeItem, key) if key else None
    if item is None or item.workspace_id != ctx.workspace_id:
        raise NotFoundError("That document")
    return item


def _clean_filename(filename: str) -> str:
    # Unprintable characters go: NUL, lone surrogates, and text-direction controls that
    # would make "gpj.exe" display as "exe.jpg".
    base = (filename if isinstance(filename, str) else "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return (base or "Untitled")[:255]
