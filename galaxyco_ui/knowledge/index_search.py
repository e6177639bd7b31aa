"""Search one workspace's chunk table: full text (BM25), vector, and their fusion.

``fts`` is BM25 over the query's words (a ``MatchQuery``, so no user input is parsed as
query syntax); ``vector`` is cosine similarity; ``hybrid`` runs both concurrently
(``CANDIDATES_PER_RESULT`` times limit candidates each) and fuses them with reciprocal-rank
fusion (k = ``RRF_K``). Fusing here, on a few dozen rows, costs microseconds; LanceDB's
``RRFReranker`` path (sync query builders, a new thread pool per query) was no faster in
bench/knowledge_search.py and does not say which search found a hit.

``hybrid`` works in two phases: the two searches return row ids and scores only, and the
columns of the ``limit`` winners are read afterwards, once, by row id. Reading ``text`` and
the other columns of all 2 x 24 candidates cost more CPU than that third query. A row id is
a row's place in its data file, which compaction changes, so all three queries run on one
snapshot of the table (a handle checked out at one version, ``KnowledgeIndex._snapshot``):
a compaction meanwhile cannot move the rows under the read. A collection filter is a
prefilter, served by the BITMAP index on ``collection_id`` (``index_schema``).

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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from lancedb.query import AsyncFTSQuery, AsyncQueryBase, AsyncVectorQuery
    from lancedb.table import AsyncTable

from galaxyco_ui.knowledge.index_schema import (
    ROW_COLUMNS,
    IndexMismatchError,
    TableInfo,
    chunk_rows,
    in_filter,
)
from galaxyco_ui.knowledge.types import ChunkRow, SearchHit

log = logging.getLogger("galaxyco_ui.knowledge.index")

SearchMode = Literal["auto", "fts", "vector", "hybrid"]
K = TypeVar("K", str, int)

RRF_K = 60
CANDIDATES_PER_RESULT = 3
MAX_LIMIT = 100
MAX_QUERY_WORDS = 32
# HNSW candidates per search (ef), measured on the bench's 100k vectors (recall@10 against
# an exact scan). Without a filter: LanceDB's default (1.5 x limit) 0.54, 64 0.68, 256 0.85,
# 384 0.91, 512 0.91, all within ~0.3 ms of each other (~2.7 ms). With a collection filter,
# 64 already has 0.95 (32: 0.93, 384: 0.96): LanceDB's filtered search walks more of the
# graph, and the filter's fixed cost (~3.5 ms, whatever ef) dominates.
VECTOR_EF = 64
VECTOR_EF_UNFILTERED = 384


def vector_ef(limit: int, filtered: bool) -> int:
    """The ``ef`` of a vector search for ``limit`` hits (see ``VECTOR_EF``)."""
    return max(VECTOR_EF if filtered else VECTOR_EF_UNFILTERED, 2 * limit)


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


def fuse(ranked: dict[str, list[K]], limit: int) -> list[tuple[K, float, tuple[str, ...]]]:
    """Reciprocal-rank fusion of ranked lists of keys: score = Σ 1 / (RRF_K + rank).

    Returns ``(key, score, sources)`` for the best ``limit``, best first.
    """
    scores: dict[K, float] = {}
    found: dict[K, list[str]] = {}
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
    collections: frozenset[str] | None,
    mode: SearchMode,
    limit: int,
    snapshot: Callable[[], Awaitable[AsyncTable]],
) -> list[SearchHit]:
    """Run ``mode`` on the table, in ``collections`` only (None: all; 32-hex ids, checked
    again here); a unit ``vector`` of another dimension falls back to full text
    (``vector`` mode raises ``IndexMismatchError`` instead). ``snapshot`` gives the table
    fixed at its latest version, for the three queries of a hybrid search."""
    where = None if collections is None else in_filter("collection_id", sorted(collections), "collection")
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
    return await hybrid(await snapshot(), terms, vector, collections, where, limit)


async def hybrid(
    table: AsyncTable,
    terms: str,
    vector: np.ndarray,
    collections: frozenset[str] | None,
    where: str | None,
    limit: int,
) -> list[SearchHit]:
    """Both searches at once (``CANDIDATES_PER_RESULT`` x ``limit`` row ids each), fused by
    RRF; then the winners' columns, read once (``winners``). ``table`` must stay at one
    version throughout (a snapshot): row ids are only valid within one."""
    candidates = limit * CANDIDATES_PER_RESULT
    text_result, vector_result = await asyncio.gather(
        full_text(table, terms, where, candidates, ["_rowid", "_score"]),
        nearest(table, vector, where, candidates, ["_rowid", "_distance"]),
    )
    ranked: dict[str, list[int]] = {"vector": vector_result.column("_rowid").to_pylist()}
    if text_result is not None:
        ranked["fts"] = text_result.column("_rowid").to_pylist()
    fused = fuse(dict(sorted(ranked.items())), limit)
    rows = await winners(table, [key for key, _, _ in fused], collections)
    return [SearchHit(rows[key], score, sources) for key, score, sources in fused if key in rows]


async def winners(
    table: AsyncTable, row_ids: list[int], collections: frozenset[str] | None
) -> dict[int, ChunkRow]:
    """The rows of ``row_ids`` (read at ``table``'s version), by row id.

    Reading 8 winners by id costs ~3 ms at 100k chunks, ~1.2 ms of it a fixed cost per
    query and ~0.25 ms per column (bench/README.md, P4).
    """
    if not row_ids:
        return {}
    result = await collect(table.take_row_ids(row_ids).select(ROW_COLUMNS).with_row_id())
    rows = dict(zip(result.column("_rowid").to_pylist(), chunk_rows(result), strict=True))
    if collections is not None and any(row.collection_id not in collections for row in rows.values()):
        # Cannot happen at one version; never return another collection's row.
        log.error("knowledge index read rows outside the searched collections")
        return {key: row for key, row in rows.items() if row.collection_id in collections}
    return rows


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
    return await collect(full_text_query(table, terms, where, limit, columns))


def full_text_query(
    table: AsyncTable, terms: str, where: str | None, limit: int, columns: list[str]
) -> AsyncFTSQuery:
    from lancedb.query import MatchQuery

    # lancedb gives MatchQuery's options positional pydantic.Field defaults, which the
    # dataclass transform does not read: mypy takes them for required arguments.
    query = table.query().nearest_to_text(MatchQuery(terms, "text"))  # type: ignore[call-arg]  # see above
    if where:
        query = query.where(where)
    return query.limit(limit).select(columns)


async def nearest(
    table: AsyncTable,
    vector: np.ndarray,
    where: str | None,
    limit: int,
    columns: list[str],
) -> pa.Table:
    """Nearest unit vectors (HNSW when indexed, else an exact scan)."""
    return await collect(nearest_query(table, vector, where, limit, columns))


def nearest_query(
    table: AsyncTable, vector: np.ndarray, where: str | None, limit: int, columns: list[str]
) -> AsyncVectorQuery:
    query = (
        table.query()
        .nearest_to(vector)
        .column("vector")
        .distance_type("l2")
        .ef(vector_ef(limit, bool(where)))
    )
    if where:
        query = query.where(where)
    return query.limit(limit).select(columns)


async def collect(query: AsyncQueryBase) -> pa.Table:
    """The whole result of a LanceDB query, run by its Rust half.

    LanceDB's ``to_arrow`` first asks the table for its schema, to look for blob columns
    (a chunk table has none): one more round trip to LanceDB's runtime, with its check
    for a newer version, per query. For a vector or full-text query it then packs the
    result into a table twice. Skipping both saved ~0.3 ms of a query's ~3-7 ms
    (bench/README.md, P4); ``tests/knowledge/test_index.py`` pins the result to
    ``to_arrow``'s.
    """
    inner: Any = query._inner  # its stubs disagree on execute's arguments; lancedb passes these
    stream = await inner.execute(max_batch_length=None, timeout=None)
    return pa.Table.from_batches([batch async for batch in stream], schema=stream.schema)
