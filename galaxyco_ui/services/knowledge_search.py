"""Knowledge search for people: the retrieval console's tenant-checked service function.

``search`` checks the caller may view the workspace and that the collections are its
own, then calls the search core (``knowledge.search.search_chunks``, which the
``knowledge_search`` tool uses too) and marks the words matching the query.

Modes: ``hybrid`` (full text and vectors fused when the workspace has an embedding model,
else full text), ``keyword`` (full text only) and ``semantic`` (vectors only; needs an
embedding model).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge.highlight import highlight, snippet
from galaxyco_ui.knowledge.index import SearchMode
from galaxyco_ui.knowledge.search import MAX_QUERY_CHARS as MAX_QUERY_CHARS  # states cut queries to it
from galaxyco_ui.knowledge.search import search_chunks
from galaxyco_ui.knowledge.types import SearchHit
from galaxyco_ui.services.knowledge import collection_in_workspace
from galaxyco_ui.services.validation import search_text

Mode = Literal["hybrid", "keyword", "semantic"]
MODES: tuple[str, ...] = get_args(Mode)
_INDEX_MODES: dict[str, SearchMode] = {"hybrid": "auto", "keyword": "fts", "semantic": "vector"}
MAX_COLLECTIONS = 50


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
    *,
    ctx: TenantContext,
    query: str,
    collection_id: str | None = None,
    limit: int = 10,
    collection_ids: list[str] | None = None,
    mode: str = "hybrid",
) -> list[SearchResultView]:
    """Ranked chunks for ``query`` in one collection, several, or the whole workspace.

    Any query text is searchable (see ``knowledge.search.search_chunks``); a ``limit`` that is not a
    whole number means the default. ``collection_ids`` (or ``collection_id``) empty or
    None searches every collection.

    Raises:
        NotFoundError: a collection is not one of the workspace's.
        ValidationError: an unknown ``mode``, too many collections, or ``semantic``
            without a usable embedding model.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    if not isinstance(limit, int) or isinstance(limit, bool):
        limit = 10
    if mode not in MODES:
        raise ValidationError({"mode": "Use hybrid, keyword or semantic."})
    wanted = [collection_id] if collection_id is not None else list(collection_ids or [])
    if len(wanted) > MAX_COLLECTIONS:
        raise ValidationError({"collection_ids": f"Search at most {MAX_COLLECTIONS} collections at once."})
    query = search_text(query, max_chars=MAX_QUERY_CHARS)
    if wanted:
        with session_scope() as session:
            for wanted_id in wanted:
                collection_in_workspace(session, ctx, wanted_id)
    hits = await search_chunks(
        workspace_id=ctx.workspace_id,
        query=query,
        collection_ids=list(dict.fromkeys(wanted)) or None,
        limit=limit,
        mode=_INDEX_MODES[mode],
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
