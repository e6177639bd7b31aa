"""Knowledge collections: list, create, rename, delete (with their items and chunks).

Everyone in the workspace reads; members and admins create; members rename and delete the
collections they created, admins any. Every lookup is scoped to ``ctx.workspace_id``: an id
from another workspace is "not found", never "forbidden".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import ConflictError, NotFoundError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import storage
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.models import Agent, KnowledgeCollection, KnowledgeItem, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.knowledge_views import CollectionView, collection_view, collection_views
from galaxyco_ui.services.validation import lookup_id, name_key, one_line, parse


class CollectionInput(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""

    @field_validator("name", mode="before")
    @classmethod
    def _one_line_name(cls, v: object) -> object:
        return one_line(v) if isinstance(v, str) else v


def list_collections(*, ctx: TenantContext) -> list[CollectionView]:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        collections = session.exec(
            select(KnowledgeCollection)
            .where(KnowledgeCollection.workspace_id == ctx.workspace_id)
            .order_by(func.lower(KnowledgeCollection.name))
        ).all()
        return collection_views(session, ctx, collections)


def get_collection(*, ctx: TenantContext, collection_id: str) -> CollectionView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return collection_view(session, ctx, collection_in_workspace(session, ctx, collection_id))


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
        return collection_view(session, ctx, collection)


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
        return collection_view(session, ctx, collection)


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


def collection_in_workspace(session: Session, ctx: TenantContext, collection_id: str) -> KnowledgeCollection:
    """The workspace's collection ``collection_id``, else ``NotFoundError``."""
    key = lookup_id(collection_id)
    collection = session.get(KnowledgeCollection, key) if key else None
    if collection is None or collection.workspace_id != ctx.workspace_id:
        raise NotFoundError("That collection")
    return collection


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
