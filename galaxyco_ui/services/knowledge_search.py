"""Knowledge search for people: the retrieval console's tenant-checked service function.

``search`` checks the caller may view the workspace and that the collection is one of
its own, then calls the search core (``knowledge.search.search_chunks``, which the
``knowledge_search`` tool uses too) and marks the words matching the query.
"""

from __future__ import annotations

from pydantic import BaseModel

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge.highlight import highlight, snippet
from galaxyco_ui.knowledge.search import MAX_QUERY_CHARS as MAX_QUERY_CHARS  # states cut queries to it
from galaxyco_ui.knowledge.search import search_chunks
from galaxyco_ui.knowledge.types import SearchHit
from galaxyco_ui.services.knowledge import collection_in_workspace
from galaxyco_ui.services.validation import search_text


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

    Any query text is searchable (see ``knowledge.search.search_chunks``); a ``limit`` that is not a
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
