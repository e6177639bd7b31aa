"""Knowledge search: the one entry point to the index, for people and for agents.

``search`` serves the retrieval console (one collection or the whole workspace, with the
matching words marked); ``search_chunks`` is what both it and the ``knowledge_search``
tool call. Collections are narrowed to the workspace's own before the index is asked,
and hits whose item was deleted meanwhile are dropped.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel
from sqlmodel import col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge.highlight import highlight, snippet
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.types import SearchHit
from galaxyco_ui.models import KnowledgeCollection, KnowledgeItem
from galaxyco_ui.services.knowledge import collection_in_workspace, existing_collection_ids
from galaxyco_ui.services.validation import search_text

log = logging.getLogger("galaxyco.knowledge")

MAX_QUERY_CHARS = 500


class SearchResultView(BaseModel):
    """One ranked chunk, with the words matching the query marked for highlighting."""

    item_id: str
    item_name: str
    collection_id: str
    collection_name: str
    ordinal: int
    heading: str
    page: int | None
    score: float
    matched_by: list[str]
    text: str
    segments: list[tuple[str, bool]]


async def search(
    *, ctx: TenantContext, query: str, collection_id: str | None = None, limit: int = 10
) -> list[SearchResultView]:
    """Ranked chunks for ``query`` in one collection or the whole workspace.

    Any query text is searchable (see ``search_chunks``); a ``limit`` that is not a
    whole number means the default.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    if not isinstance(limit, int) or isinstance(limit, bool):
        limit = 10
    query = search_text(query, max_chars=MAX_QUERY_CHARS)
    if collection_id is not None:
        with session_scope() as session:
            collection_in_workspace(session, ctx, collection_id)
    hits = await search_chunks(
        workspace_id=ctx.workspace_id,
        query=query,
        collection_ids=[collection_id] if collection_id else None,
        limit=limit,
    )
    return [_result_view(hit, names, query) for hit, names in hits]


async def search_chunks(
    *, workspace_id: str, query: str, collection_ids: list[str] | None, limit: int
) -> list[tuple[SearchHit, tuple[str, str]]]:
    """Search the workspace's index; the one place the index is queried for people and agents.

    ``collection_ids`` is narrowed to the workspace's own collections first (a foreign or
    made-up id simply matches nothing), and hits whose item was deleted meanwhile are
    dropped. Returns each hit with (item name, collection name).
    """
    from galaxyco_ui.knowledge.workspace import load_embedder

    # NUL and lone surrogates dropped: they cannot be in the index, and a query holding
    # them must not fail on the way to it.
    query = search_text(query, max_chars=MAX_QUERY_CHARS)
    if not query:
        return []
    if collection_ids is not None:
        with session_scope() as session:
            collection_ids = existing_collection_ids(session, workspace_id, collection_ids)
        if not collection_ids:
            return []
    vector = None
    try:
        embedder = await asyncio.to_thread(load_embedder, workspace_id)
        if embedder is not None:
            vector = (await embedder.embed([query], kind="query"))[0]
    except GalaxyError as error:  # the provider is down or the key gone: full text still answers
        log.warning("query embedding failed; full-text only", extra={"error": error.message})
    hits = await asyncio.to_thread(
        get_index().search,
        workspace_id,
        query,
        collection_ids=collection_ids,
        query_vector=vector,
        limit=limit,
    )
    if not hits:
        return []
    with session_scope() as session:
        rows = session.exec(
            select(KnowledgeItem.id, KnowledgeItem.name, KnowledgeCollection.name)
            .join(KnowledgeCollection, col(KnowledgeCollection.id) == col(KnowledgeItem.collection_id))
            .where(
                KnowledgeItem.workspace_id == workspace_id,
                col(KnowledgeItem.id).in_({h.row.item_id for h in hits}),
            )
        ).all()
    names = {item_id: (item_name, coll_name) for item_id, item_name, coll_name in rows}
    return [(hit, names[hit.row.item_id]) for hit in hits if hit.row.item_id in names]


def _result_view(hit: SearchHit, names: tuple[str, str], query: str) -> SearchResultView:
    text = snippet(hit.row.text, query, max_chars=480)
    return SearchResultView(
        item_id=hit.row.item_id,
        item_name=names[0],
        collection_id=hit.row.collection_id,
        collection_name=names[1],
        ordinal=hit.row.ordinal,
        heading=hit.row.heading,
        page=hit.row.page,
        score=round(hit.score, 4),
        matched_by=list(hit.matched_by),
        text=text,
        segments=highlight(text, query),
    )
