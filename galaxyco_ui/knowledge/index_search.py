"""Search one workspace's chunk table: full text (BM25), vector, and their fusion.

``fts`` is BM25 over the query's words (a ``MatchQuery``, so no user input is parsed as
query syntax); ``vector`` is cosine similarity; ``hybrid`` runs both concurrently
(``CANDIDATES_PER_RESULT`` times limit candidates each) and fuses them with reciprocal-rank
fusion (k = ``RRF_K``). Fusing here, on a few dozen rows, costs microseconds; LanceDB's
``RRFReranker`` path (sync query builders, a new thread pool per query) was no faster in
bench/knowledge_search.py and does not say which search found a hit.

Vectors are stored and queried L2-normalised, and compared by squared L2 distance, which
on unit vectors is 2 x (1 - cosine similarity); a hit's score is 1 - distance / 2, the
cosine similarity. Not LanceDB's ``cosine``: in 0.40 an HNSW_SQ index built for cosine
reports squared-L2 distances while a flat scan (small tables, unindexed rows) reports
cosine distances, so scores and the merge of indexed and unindexed rows would disagree.

The coroutines here run on the index's loop thread (``KnowledgeIndex.search`` checks the
arguments and calls ``search_table``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from lancedb.table import AsyncTable

from galaxyco_ui.knowledge.index_schema import ROW_COLUMNS, IndexMismatchError, TableInfo, chunk_rows
from galaxyco_ui.knowledge.types import SearchHit

log = logging.getLogger("galaxyco_ui.knowledge.index")

SearchMode = Literal["auto", "fts", "vector", "hybrid"]

RRF_K = 60
CANDIDATES_PER_RESULT = 3
MAX_LIMIT = 100
MAX_QUERY_WORDS = 32
# HNSW candidates per search. LanceDB's default, 1.5 x limit, had recall@10 0.54 on the
# bench's 100k vectors; 64 has 0.67 (0.84 within one collection) for ~0.6 ms more.
VECTOR_EF = 64

_WORD = re.compile(r"[^\W_]+")


def fts_terms(query: str) -> str:
    """The words of a user's query as plain BM25 terms ("" when there are none).

    Quotes, colons, parentheses, operators and emoji are dropped, so no input can be read
    as query syntax or make the search fail.
    """
    return " ".join(_WORD.findall(query)[:MAX_QUERY_WORDS])


def hits(result: pa.Table, source: str) -> list[SearchHit]:
    """Rows of a single search as hits: BM25 ``_score``, or cosine similarity from the
    squared L2 ``_distance`` of unit vectors."""
    if source == "fts":
        scores = [float(s) for s in result.column("_score").to_pylist()]
    else:
        scores = [1.0 - float(d) / 2.0 for d in result.column("_distance").to_pylist()]
    return [SearchHit(row, score, (source,)) for row, score in zip(chunk_rows(result), scores, strict=True)]


def fuse(ranked: dict[str, list[str]], limit: int) -> list[tuple[str, float, tuple[str, ...]]]:
    """Reciprocal-rank fusion of ranked chunk-id lists: score = Σ 1 / (RRF_K + rank).

    Returns ``(chunk_id, score, sources)`` for the best ``limit``, best first.
    """
    scores: dict[str, float] = {}
    found: dict[str, list[str]] = {}
    for source, keys in ranked.items():
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
            found.setdefault(key, []).append(source)
    order = sorted(scores, key=lambda k: scores[k], reverse=True)[:limit]
    return [(key, scores[key], tuple(found[key])) for key in order]


async def search_table(
    table: AsyncTable,
    info: TableInfo,
    terms: str,
    vector: np.ndarray | None,
    where: str | None,
    mode: SearchMode,
    limit: int,
) -> list[SearchHit]:
    """Run ``mode`` on the table; a unit ``vector`` of another dimension falls back to full
    text (``vector`` mode raises ``IndexMismatchError`` instead)."""
    dimensions = info.dimensions
    usable = vector is not None and vector.shape == (dimensions,)
    if vector is not None and dimensions and not usable:
        if mode == "vector":
            raise IndexMismatchError(
                f"The query vector has {vector.size} dimensions; this workspace's index has "
                f"{dimensions}. Re-index the workspace's documents."
            )
        log.warning("query vector dimension mismatch; full text only", extra={"expected": dimensions})
    if mode == "vector":
        if not usable or vector is None:  # (usable implies a vector; this says so to mypy)
            return []
        result = await nearest(table, vector, where, limit, [*ROW_COLUMNS, "_distance"])
        return hits(result, "vector")
    if mode == "fts" or not usable:
        result = await full_text(table, terms, where, limit, [*ROW_COLUMNS, "_score"])
        return hits(result, "fts") if result is not None else []
    assert vector is not None
    return await hybrid(table, terms, vector, where, limit)


async def hybrid(
    table: AsyncTable, terms: str, vector: np.ndarray, where: str | None, limit: int
) -> list[SearchHit]:
    """Both searches at once (``CANDIDATES_PER_RESULT`` x ``limit`` each), fused by RRF."""
    candidates = limit * CANDIDATES_PER_RESULT
    text_result, vector_result = await asyncio.gather(
        full_text(table, terms, where, candidates, [*ROW_COLUMNS, "_score"]),
        nearest(table, vector, where, candidates, [*ROW_COLUMNS, "_distance"]),
    )
    found = {"vector": hits(vector_result, "vector")}
    if text_result is not None:
        found["fts"] = hits(text_result, "fts")
    by_id = {h.row.chunk_id: h.row for some in found.values() for h in some}
    ranked = {source: [h.row.chunk_id for h in some] for source, some in sorted(found.items())}
    return [SearchHit(by_id[key], score, sources) for key, score, sources in fuse(ranked, limit)]


async def full_text(
    table: AsyncTable,
    terms: str,
    where: str | None,
    limit: int,
    columns: list[str],
) -> pa.Table | None:
    """BM25 search (None when the query has no words)."""
    if not terms:
        return None
    from lancedb.query import MatchQuery

    # lancedb gives MatchQuery's options positional pydantic.Field defaults, which the
    # dataclass transform does not read: mypy takes them for required arguments.
    query = table.query().nearest_to_text(MatchQuery(terms, "text"))  # type: ignore[call-arg]  # see above
    if where:
        query = query.where(where)
    return await query.limit(limit).select(columns).to_arrow()


async def nearest(
    table: AsyncTable,
    vector: np.ndarray,
    where: str | None,
    limit: int,
    columns: list[str],
) -> pa.Table:
    """Nearest unit vectors (HNSW when indexed, else an exact scan)."""
    query = (
        table.query().nearest_to(vector).column("vector").distance_type("l2").ef(max(VECTOR_EF, 2 * limit))
    )
    if where:
        query = query.where(where)
    return await query.limit(limit).select(columns).to_arrow()
