"""The search core: the one place the knowledge index is queried, for people and for agents.

``search_chunks`` embeds the query (when the workspace has an embedding model), asks the
index, and names each hit's item and collection. It is below the services, so the
``knowledge_search`` tool calls it directly; ``services.knowledge_search.search`` is the
tenant-checked entry point for people (permission, collection lookup, highlighting).

Every input is treated as hostile: the query is cleaned (characters no index can hold are
dropped), collection ids are narrowed to the workspace's own collections before the index
is asked (a foreign or made-up id simply matches nothing), and hits whose item was deleted
meanwhile are dropped.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import Session, col, select

from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.text import lookup_id, search_text
from galaxyco_ui.infra.tracing import annotate_search, search_span
from galaxyco_ui.knowledge.index import SearchMode, get_index
from galaxyco_ui.knowledge.types import SearchHit
from galaxyco_ui.knowledge.workspace import load_embedder
from galaxyco_ui.models import KnowledgeCollection, KnowledgeItem

log = logging.getLogger("galaxyco.knowledge")

MAX_QUERY_CHARS = 500
NO_EMBEDDING_MODEL = "Semantic search needs an embedding model: choose one in Settings → Knowledge."
EMBEDDING_FAILED = "The embedding model could not be reached ({error}). Try keyword or hybrid search."


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


async def search_chunks(
    *,
    workspace_id: str,
    query: str,
    collection_ids: list[str] | None,
    limit: int,
    mode: SearchMode = "auto",
) -> list[tuple[SearchHit, tuple[str, str]]]:
    """Search the workspace's index; returns each hit with (item name, collection name).

    ``collection_ids`` None searches the whole workspace; otherwise only those of the
    workspace's collections (none left: no hits). ``mode`` is the index's (``auto`` =
    hybrid when the workspace has vectors, else full text; ``fts``; ``vector``).

    Raises:
        ValidationError: ``mode="vector"`` (on ``mode``) without a usable embedding model.

    Traced as ``knowledge.search`` (``infra.tracing``): mode, limit, collection count, hits
    and whether vectors were used; never the query.
    """
    collections = None if collection_ids is None else len(collection_ids)
    with search_span(workspace_id=workspace_id, mode=mode, limit=limit, collections=collections) as span:
        hits = await _search_chunks(
            workspace_id=workspace_id, query=query, collection_ids=collection_ids, limit=limit, mode=mode
        )
        span.set(hits=len(hits))
        return hits


async def _search_chunks(
    *, workspace_id: str, query: str, collection_ids: list[str] | None, limit: int, mode: SearchMode
) -> list[tuple[SearchHit, tuple[str, str]]]:
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
    if mode != "fts":
        try:
            embedder = await asyncio.to_thread(load_embedder, workspace_id)
            if embedder is not None:
                vector = (await embedder.embed([query], kind="query"))[0]
        except GalaxyError as error:  # the provider is down or the key gone: full text still answers
            log.warning("query embedding failed; full-text only", extra={"error": error.message})
            if mode == "vector":
                raise ValidationError({"mode": EMBEDDING_FAILED.format(error=error.message)}) from None
    if mode == "vector" and vector is None:
        raise ValidationError({"mode": NO_EMBEDDING_MODEL})
    annotate_search(vector=vector is not None)
    hits = await asyncio.to_thread(
        get_index().search,
        workspace_id,
        query,
        collection_ids=collection_ids,
        query_vector=vector,
        mode=mode,
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
