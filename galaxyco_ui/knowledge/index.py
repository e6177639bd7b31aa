"""The chunk index: LanceDB full-text (BM25), vector and hybrid search, one table per workspace.

Layout: ``Settings.resolved_lancedb_path/ws_<workspace_id>.lance``, one table per workspace
(ids are 32 lowercase hex characters; anything else raises ``ValueError``). Why per workspace:

- each workspace picks its own embedding model, so the vector dimension differs per
  workspace (a table has one fixed-size vector column, or none: full text only);
- isolation by construction: a search opens only its own workspace's table. Collection and
  item ids are also checked as 32-hex before they go into a filter string, and every
  search filters by collection when asked to;
- deleting a workspace drops its table; maintenance (``optimize``) runs per table.

Columns: ``chunk_id`` (``<item_id>:<ordinal>``), ``workspace_id``, ``collection_id``,
``item_id``, ``ordinal``, ``text``, ``heading``, ``page`` (-1 for none), ``token_count`` and,
when the workspace embeds, ``vector`` (float32, one per dimension). The schema metadata records
the embedding model id and dimensions; adding vectors of another model raises
``IndexMismatchError`` (the workspace must be re-indexed, see ``reset_workspace_vectors``).

Indexes: FTS on ``text`` (lowercased, English stemming, stop words kept so that a query
of common words still finds something), BTREE on ``item_id``, BITMAP on ``collection_id``,
created with the table; HNSW_SQ on ``vector`` once a table has
``VECTOR_INDEX_MIN_ROWS`` rows (below that an exact scan takes a few milliseconds). Rows
added later are unindexed, and LanceDB scans them on every query (1,000 such rows made
full-text p95 ~100 ms at 100k chunks in the bench), so the maintenance task calls
``optimize`` (compaction, index update, cleanup of versions older than
``KEEP_VERSIONS_FOR``) whenever ``needs_optimize`` says so.

Search: ``fts`` is BM25 over the query's words (a ``MatchQuery``, so no user input is
parsed as query syntax); ``vector`` is cosine similarity; ``hybrid`` runs both
concurrently (``CANDIDATES_PER_RESULT`` times limit candidates each) and fuses them with
reciprocal-rank fusion (k = ``RRF_K``). Fusing here, on a few dozen rows, costs
microseconds; LanceDB's ``RRFReranker`` path (sync query builders, a new thread pool per
query) was no faster in bench/knowledge_search.py and does not say which search found a hit.

Vectors are stored and queried L2-normalised, and compared by squared L2 distance, which
on unit vectors is 2 x (1 - cosine similarity); a hit's score is 1 - distance / 2, the
cosine similarity. Not LanceDB's ``cosine``: in 0.40 an HNSW_SQ index built for cosine
reports squared-L2 distances while a flat scan (small tables, unindexed rows) reports
cosine distances, so scores and the merge of indexed and unindexed rows would disagree.

Concurrency: the app and the workers write the same tables. LanceDB commits optimistically,
so every write retries a commit conflict up to ``COMMIT_ATTEMPTS`` times with a short
jittered backoff. The connection checks for newer versions on every read
(``read_consistency_interval=0``, measured as free), so other processes' writes are seen.
All LanceDB calls run on one private event-loop thread through LanceDB's async API (one
hop per search instead of several through the sync API, ~2.5 ms saved per query); the
public methods are synchronous and thread-safe, and callers run them in a thread
(``asyncio.to_thread``). The opened tables are cached on that loop thread, and a handle
that fails (its table was dropped or rebuilt by another process) is reopened once.

Do not ``fork`` a process after it used the index: LanceDB's runtime threads do not survive
a fork, and the child hangs (start subprocesses by exec or multiprocessing ``spawn``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    # lancedb is imported where it is used: the app module is imported by Reflex's
    # parent process, which then forks its server workers, and LanceDB's runtime is
    # not fork-safe. Nothing LanceDB is loaded before the fork this way.
    import lancedb
    from lancedb.index import FTS, Bitmap, BTree
    from lancedb.table import AsyncTable

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.knowledge.types import ChunkRow, SearchHit

log = logging.getLogger(__name__)

T = TypeVar("T")
SearchMode = Literal["auto", "fts", "vector", "hybrid"]

TABLE_PREFIX = "ws_"
RRF_K = 60
CANDIDATES_PER_RESULT = 3
MAX_LIMIT = 100
MAX_QUERY_WORDS = 32
VECTOR_INDEX_MIN_ROWS = 5_000
# HNSW candidates per search. LanceDB's default, 1.5 x limit, had recall@10 0.54 on the
# bench's 100k vectors; 64 has 0.67 (0.84 within one collection) for ~0.6 ms more.
VECTOR_EF = 64
KEEP_VERSIONS_FOR = timedelta(minutes=10)
SMALL_FRAGMENTS_BEFORE_OPTIMIZE = 16
COMMIT_ATTEMPTS = 5

_ID = re.compile(r"^[0-9a-f]{32}$")
_WORD = re.compile(r"[^\W_]+")
_META_MODEL = b"galaxyco.embedding_model"
_META_DIMENSIONS = b"galaxyco.dimensions"
# What a hit needs; item id and ordinal come from chunk_id (each column read costs ~0.5 ms
# of CPU per search at 100k rows, see bench/knowledge_search.py).
_ROW_COLUMNS = ["chunk_id", "collection_id", "text", "heading", "page", "token_count"]


def _fts_config() -> FTS:
    from lancedb.index import FTS

    return FTS(language="English", lower_case=True, stem=True, remove_stop_words=False, ascii_folding=True)


# One HNSW graph (no IVF split) with LanceDB's defaults (m 20, ef_construction 300): 100k x
# 384-d builds in ~40 s here; ef_construction 150 built in 28 s but lost recall.
def _vector_config() -> Any:
    from lancedb.index import HnswSq

    return HnswSq(distance_type="l2", num_partitions=1)


class IndexMismatchError(GalaxyError):
    """The workspace's table holds vectors of another embedding model (or none)."""


@dataclass(frozen=True, slots=True)
class OptimizeReport:
    """What one ``optimize`` did to one workspace's table.

    ``unindexed_*`` is the largest count of rows any index does not cover yet (rows that
    every query scans); ``seconds`` is the whole call, retries included.
    """

    workspace_id: str
    rows: int
    unindexed_before: int
    unindexed_after: int
    seconds: float
    attempts: int = 1
    vector_index_created: bool = False


@dataclass(frozen=True, slots=True)
class _TableInfo:
    embedding_model: str
    dimensions: int  # 0 = no vector column


def table_name(workspace_id: str) -> str:
    """The table of ``workspace_id``.

    Raises:
        ValueError: the id is not 32 lowercase hex characters.
    """
    return TABLE_PREFIX + _checked_id(workspace_id, "workspace")


def _checked_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"invalid {what} id: {value!r}")
    return value


def _in_filter(column: str, ids: Iterable[str], what: str) -> str:
    quoted = ", ".join(f"'{_checked_id(i, what)}'" for i in dict.fromkeys(ids))
    return f"{column} IN ({quoted})"


def fts_terms(query: str) -> str:
    """The words of a user's query as plain BM25 terms ("" when there are none).

    Quotes, colons, parentheses, operators and emoji are dropped, so no input can be read
    as query syntax or make the search fail.
    """
    return " ".join(_WORD.findall(query)[:MAX_QUERY_WORDS])


def _schema(embedding_model: str, dimensions: int) -> pa.Schema:
    fields = [
        pa.field("chunk_id", pa.string(), nullable=False),
        pa.field("workspace_id", pa.string(), nullable=False),
        pa.field("collection_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("heading", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("token_count", pa.int32(), nullable=False),
    ]
    if dimensions:
        fields.append(pa.field("vector", pa.list_(pa.float32(), dimensions)))
    metadata = {_META_MODEL: embedding_model.encode(), _META_DIMENSIONS: str(dimensions).encode()}
    return pa.schema(fields, metadata=metadata)


def _info(schema: pa.Schema) -> _TableInfo:
    meta = schema.metadata or {}
    dimensions = 0
    if "vector" in schema.names:
        dimensions = schema.field("vector").type.list_size
    return _TableInfo(meta.get(_META_MODEL, b"").decode(), dimensions)


def _describe(info: _TableInfo) -> str:
    if not info.dimensions:
        return "full-text search only (no embedding model)"
    return f"{info.embedding_model or 'an unnamed model'} ({info.dimensions}-dimensional vectors)"


def _is_conflict(error: BaseException) -> bool:
    text = str(error).lower()
    return "conflict" in text or "preempted" in text or "retryable" in text


def _is_missing_table(error: BaseException) -> bool:
    return isinstance(error, ValueError) and "was not found" in str(error)


def _rows(table: pa.Table) -> list[ChunkRow]:
    """``ChunkRow``s from a result holding ``_ROW_COLUMNS``."""
    rows = []
    for r in table.select(_ROW_COLUMNS).to_pylist():
        item_id, ordinal = r["chunk_id"].rsplit(":", 1)
        rows.append(
            ChunkRow(
                item_id=item_id,
                collection_id=r["collection_id"],
                ordinal=int(ordinal),
                text=r["text"],
                heading=r["heading"],
                page=None if r["page"] < 0 else r["page"],
                token_count=r["token_count"],
            )
        )
    return rows


def _hits(result: pa.Table, source: str) -> list[SearchHit]:
    """Rows of a single search as hits: BM25 ``_score``, or cosine similarity from the
    squared L2 ``_distance`` of unit vectors."""
    if source == "fts":
        scores = [float(s) for s in result.column("_score").to_pylist()]
    else:
        scores = [1.0 - float(d) / 2.0 for d in result.column("_distance").to_pylist()]
    return [SearchHit(row, score, (source,)) for row, score in zip(_rows(result), scores, strict=True)]


def _fuse(ranked: dict[str, list[str]], limit: int) -> list[tuple[str, float, tuple[str, ...]]]:
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


class _LoopThread:
    """An asyncio loop on a daemon thread, where every LanceDB call of this process runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="knowledge-index", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("KnowledgeIndex methods are blocking: call them from another thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_loop: _LoopThread | None = None
_loop_lock = threading.Lock()


def _loop_thread() -> _LoopThread:
    global _loop
    with _loop_lock:
        if _loop is None or not _loop.thread.is_alive():
            _loop = _LoopThread()
        return _loop


class KnowledgeIndex:
    """The chunk index under ``root`` (one LanceDB table per workspace).

    Every method blocks; run it in a thread from async code. Methods taking ids raise
    ``ValueError`` for an id that is not 32 lowercase hex characters.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._db: lancedb.AsyncConnection | None = None
        # Touched only on the loop thread: open handles, and what their schema says.
        self._tables: dict[str, AsyncTable] = {}
        self._infos: dict[str, _TableInfo] = {}
        self._indexed: set[str] = set()  # tables whose FTS and scalar indexes exist
        self._create_lock: asyncio.Lock | None = None

    # ------------------------------------------------------------ writes

    def add_chunks(
        self,
        workspace_id: str,
        rows: Sequence[ChunkRow],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        embedding_model: str = "",
    ) -> None:
        """Append chunks (and their vectors) to the workspace's table, creating it if needed.

        Not idempotent: to re-index an item, ``delete_item`` first. The new rows are found
        at once (scanned) and indexed by the next ``optimize``.

        Args:
            workspace_id: the owner of the chunks.
            rows: the chunks; their item and collection ids must be 32-hex.
            vectors: one vector per row (all the same length), or None for full text only.
            embedding_model: the id of the model that made ``vectors`` (required with them).

        Raises:
            IndexMismatchError: the table holds another model's vectors (or none, or has
                vectors when none are given): the workspace must be re-indexed.
            ValueError: a bad id, or vectors that do not match the rows.
        """
        name = table_name(workspace_id)
        if not rows:
            return
        info = _TableInfo(embedding_model if vectors is not None else "", 0)
        if vectors is not None:
            if len(vectors) != len(rows):
                raise ValueError(f"{len(vectors)} vectors for {len(rows)} chunks")
            if not embedding_model:
                raise ValueError("vectors need the embedding_model that made them")
            matrix = np.asarray(vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
                raise ValueError("vectors must be equally long lists of finite numbers")
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            if not norms.all():
                raise ValueError("a vector of zeros has no direction")
            matrix = matrix / norms
            info = _TableInfo(embedding_model, int(matrix.shape[1]))
        data = self._arrow(workspace_id, rows, info, matrix if vectors is not None else None)
        _loop_thread().run(self._add(name, data, info))

    def _arrow(
        self, workspace_id: str, rows: Sequence[ChunkRow], info: _TableInfo, matrix: np.ndarray | None
    ) -> pa.Table:
        schema = _schema(info.embedding_model, info.dimensions)
        columns: dict[str, Any] = {
            "chunk_id": [r.chunk_id for r in rows],
            "workspace_id": [workspace_id] * len(rows),
            "collection_id": [_checked_id(r.collection_id, "collection") for r in rows],
            "item_id": [_checked_id(r.item_id, "item") for r in rows],
            "ordinal": [r.ordinal for r in rows],
            "text": [r.text for r in rows],
            "heading": [r.heading or "" for r in rows],
            "page": [-1 if r.page is None else r.page for r in rows],
            "token_count": [r.token_count for r in rows],
        }
        arrays = [pa.array(columns[f.name], type=f.type) for f in schema if f.name in columns]
        if matrix is not None:
            flat = pa.array(matrix.ravel(), type=pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, info.dimensions))
        return pa.Table.from_arrays(arrays, schema=schema)

    async def _add(self, name: str, data: pa.Table, wanted: _TableInfo) -> None:
        was_cached = name in self._tables
        try:
            await self._add_once(name, data, wanted)
        except (RuntimeError, OSError, ValueError):
            if not was_cached:
                raise
            log.info("knowledge index handle is stale, reopening", extra={"table": name})
            self._forget(name)
            await self._add_once(name, data, wanted)

    async def _add_once(self, name: str, data: pa.Table, wanted: _TableInfo) -> None:
        table = await self._table(name, create_as=wanted)
        assert table is not None
        have = self._infos[name] = _info(await table.schema())
        if have != wanted:
            raise IndexMismatchError(
                f"This workspace's search index was built for {_describe(have)}, but these "
                f"documents come with {_describe(wanted)}. The index must be rebuilt: re-index "
                "the workspace's documents (Settings → Knowledge)."
            )
        await self._commit(lambda: table.add(data))
        await self._ensure_indexes(name, table)

    def delete_item(self, workspace_id: str, item_id: str) -> None:
        """Remove every chunk of one item (nothing happens if there are none)."""
        where = f"item_id = '{_checked_id(item_id, 'item')}'"
        _loop_thread().run(self._delete(table_name(workspace_id), where))

    def delete_collection(self, workspace_id: str, collection_id: str) -> None:
        """Remove every chunk of one collection."""
        where = f"collection_id = '{_checked_id(collection_id, 'collection')}'"
        _loop_thread().run(self._delete(table_name(workspace_id), where))

    async def _delete(self, name: str, where: str) -> None:
        async def delete(table: AsyncTable) -> None:
            await self._commit(lambda: table.delete(where))

        await self._on_table(name, delete, None)

    def drop_workspace(self, workspace_id: str) -> None:
        """Delete the workspace's whole table (its files are removed from disk)."""
        _loop_thread().run(self._drop(table_name(workspace_id)))

    def reset_workspace_vectors(self, workspace_id: str) -> None:
        """Drop the table so it can be rebuilt with another embedding model (or none).

        Vectors of two models cannot share a table; the caller re-indexes every item.
        """
        self.drop_workspace(workspace_id)

    async def _drop(self, name: str) -> None:
        self._forget(name)
        db = await self._connect()
        await db.drop_table(name, ignore_missing=True)

    # ------------------------------------------------------------ reads

    def item_chunks(self, workspace_id: str, item_id: str) -> list[ChunkRow]:
        """Every chunk of one item, by ordinal ([] when there are none)."""
        where = f"item_id = '{_checked_id(item_id, 'item')}'"

        async def read(table: AsyncTable) -> list[ChunkRow]:
            result = await table.query().where(where).select(_ROW_COLUMNS).to_arrow()
            return sorted(_rows(result), key=lambda r: r.ordinal)

        return _loop_thread().run(self._on_table(table_name(workspace_id), read, []))

    def search(
        self,
        workspace_id: str,
        query: str,
        *,
        collection_ids: Sequence[str] | None,
        query_vector: Sequence[float] | None = None,
        mode: SearchMode = "auto",
        limit: int = 8,
    ) -> list[SearchHit]:
        """Rank the workspace's chunks for ``query``; best first.

        Args:
            workspace_id: whose table to search (no other table is ever opened).
            query: the user's words, any text (never raises on odd input); blank → [].
            collection_ids: only these collections; None = the whole workspace; [] = none.
            query_vector: the query embedded with the workspace's model, if it has one.
            mode: ``auto`` = hybrid when there is a query vector and the table has vectors,
                else full text. ``vector``/``hybrid`` need ``query_vector``; on a table
                without vectors, ``vector`` finds nothing and ``hybrid`` is full text.
            limit: how many hits at most (capped at ``MAX_LIMIT``).

        Returns:
            ``SearchHit``s; ``matched_by`` says which searches ("fts", "vector") found each.

        Raises:
            ValueError: a bad id, or ``vector``/``hybrid`` without ``query_vector``.
            IndexMismatchError: ``mode="vector"`` with a vector of another dimension (the
                other modes fall back to full text).
        """
        name = table_name(workspace_id)
        where = None if collection_ids is None else _in_filter("collection_id", collection_ids, "collection")
        if mode in ("vector", "hybrid") and query_vector is None:
            raise ValueError(f"mode={mode!r} needs a query_vector")
        limit = min(limit, MAX_LIMIT)
        if not query.strip() or limit <= 0 or (collection_ids is not None and not collection_ids):
            return []
        vector = None
        if query_vector is not None:
            vector = np.asarray(query_vector, dtype=np.float32).ravel()
            norm = float(np.linalg.norm(vector))
            if not np.isfinite(norm) or norm == 0:
                raise ValueError("the query vector must be finite and not all zeros")
            vector = vector / norm

        async def run(table: AsyncTable) -> list[SearchHit]:
            info = self._infos[name]
            if vector is not None and vector.shape != (info.dimensions,):
                # Maybe another process rebuilt the table for another model: look again.
                info = self._infos[name] = _info(await table.schema())
            return await self._search(table, info, fts_terms(query), vector, where, mode, limit)

        return _loop_thread().run(self._on_table(name, run, []))

    async def _search(
        self,
        table: AsyncTable,
        info: _TableInfo,
        terms: str,
        vector: np.ndarray | None,
        where: str | None,
        mode: SearchMode,
        limit: int,
    ) -> list[SearchHit]:
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
            if not usable:
                return []
            result = await self._nearest(table, vector, where, limit, [*_ROW_COLUMNS, "_distance"])
            return _hits(result, "vector")
        if mode == "fts" or not usable:
            result = await self._full_text(table, terms, where, limit, [*_ROW_COLUMNS, "_score"])
            return _hits(result, "fts") if result is not None else []
        assert vector is not None
        return await self._hybrid(table, terms, vector, where, limit)

    async def _hybrid(
        self, table: AsyncTable, terms: str, vector: np.ndarray, where: str | None, limit: int
    ) -> list[SearchHit]:
        """Both searches at once (``CANDIDATES_PER_RESULT`` x ``limit`` each), fused by RRF."""
        candidates = limit * CANDIDATES_PER_RESULT
        text_result, vector_result = await asyncio.gather(
            self._full_text(table, terms, where, candidates, [*_ROW_COLUMNS, "_score"]),
            self._nearest(table, vector, where, candidates, [*_ROW_COLUMNS, "_distance"]),
        )
        hits = {"vector": _hits(vector_result, "vector")}
        if text_result is not None:
            hits["fts"] = _hits(text_result, "fts")
        rows = {h.row.chunk_id: h.row for found in hits.values() for h in found}
        ranked = {source: [h.row.chunk_id for h in found] for source, found in sorted(hits.items())}
        return [SearchHit(rows[key], score, sources) for key, score, sources in _fuse(ranked, limit)]

    async def _full_text(
        self,
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

        query = table.query().nearest_to_text(MatchQuery(terms, "text"))
        if where:
            query = query.where(where)
        return await query.limit(limit).select(columns).to_arrow()

    async def _nearest(
        self,
        table: AsyncTable,
        vector: np.ndarray,
        where: str | None,
        limit: int,
        columns: list[str],
    ) -> pa.Table:
        """Nearest unit vectors (HNSW when indexed, else an exact scan)."""
        query = (
            table.query()
            .nearest_to(vector)
            .column("vector")
            .distance_type("l2")
            .ef(max(VECTOR_EF, 2 * limit))
        )
        if where:
            query = query.where(where)
        return await query.limit(limit).select(columns).to_arrow()

    # ------------------------------------------------------------ maintenance

    def needs_optimize(self, workspace_id: str) -> bool:
        """Whether ``optimize`` would help: unindexed rows, many small fragments, or a
        vector index that is due. False when the workspace has no table."""
        return _loop_thread().run(self._on_table(table_name(workspace_id), self._needs_optimize, False))

    async def _needs_optimize(self, table: AsyncTable) -> bool:
        if await self._unindexed(table) > 0 or await self._vector_index_due(table):
            return True
        stats = await table.stats()
        return int(stats["fragment_stats"]["num_small_fragments"]) > SMALL_FRAGMENTS_BEFORE_OPTIMIZE

    def optimize(self, workspace_id: str) -> OptimizeReport:
        """Compact the table, bring every index up to date, drop old versions.

        Creates the vector index once the table has ``VECTOR_INDEX_MIN_ROWS`` rows. Retries
        commit conflicts (another process wrote meanwhile) up to ``COMMIT_ATTEMPTS`` times.

        Returns:
            The report; all zeros when the workspace has no table.
        """
        empty = OptimizeReport(workspace_id, 0, 0, 0, 0.0, attempts=0)
        name = table_name(workspace_id)

        async def run(table: AsyncTable) -> OptimizeReport:
            return await self._optimize(workspace_id, name, table)

        return _loop_thread().run(self._on_table(name, run, empty))

    async def _optimize(self, workspace_id: str, name: str, table: AsyncTable) -> OptimizeReport:
        began = time.monotonic()
        before = await self._unindexed(table)
        await self._ensure_indexes(name, table)
        attempts = 0

        async def optimize() -> None:
            nonlocal attempts
            attempts += 1
            await table.optimize(cleanup_older_than=KEEP_VERSIONS_FOR)

        await self._commit(optimize)
        created = False
        if await self._vector_index_due(table):
            await self._commit(lambda: table.create_index("vector", config=_vector_config()))
            created = True
        report = OptimizeReport(
            workspace_id=workspace_id,
            rows=await table.count_rows(),
            unindexed_before=before,
            unindexed_after=await self._unindexed(table),
            seconds=time.monotonic() - began,
            attempts=attempts,
            vector_index_created=created,
        )
        log.info(
            "knowledge index optimized",
            extra={
                "workspace_id": workspace_id,
                "rows": report.rows,
                "unindexed_before": before,
                "unindexed_after": report.unindexed_after,
                "seconds": round(report.seconds, 3),
            },
        )
        return report

    def optimize_all(self) -> list[OptimizeReport]:
        """Optimize every workspace table that ``needs_optimize``; one failure is logged and
        does not stop the others. Returns the reports of the tables optimized."""
        reports = []
        for workspace_id in self.workspace_ids():
            try:
                if self.needs_optimize(workspace_id):
                    reports.append(self.optimize(workspace_id))
            except Exception:
                log.exception("knowledge index optimize failed", extra={"workspace_id": workspace_id})
        return reports

    def workspace_ids(self) -> list[str]:
        """The workspaces that have a table, sorted."""
        return _loop_thread().run(self._workspace_ids())

    async def _workspace_ids(self) -> list[str]:
        db = await self._connect()
        names: list[str] = []
        token: str | None = None
        while True:
            page = await db.list_tables(page_token=token)
            names += page.tables
            token = page.page_token
            if not token:
                break
        ids = [n.removeprefix(TABLE_PREFIX) for n in names if n.startswith(TABLE_PREFIX)]
        return sorted(i for i in ids if _ID.match(i))

    async def _unindexed(self, table: AsyncTable) -> int:
        worst = 0
        for config in await table.list_indices():
            stats = await table.index_stats(config.name)
            if stats is not None:
                worst = max(worst, stats.num_unindexed_rows)
        return worst

    async def _vector_index_due(self, table: AsyncTable) -> bool:
        if not _info(await table.schema()).dimensions:
            return False
        if any("vector" in c.columns for c in await table.list_indices()):
            return False
        return await table.count_rows() >= VECTOR_INDEX_MIN_ROWS

    async def _ensure_indexes(self, name: str, table: AsyncTable) -> None:
        if name in self._indexed:
            return
        from lancedb.index import Bitmap, BTree

        present = {column for config in await table.list_indices() for column in config.columns}
        wanted: tuple[tuple[str, FTS | BTree | Bitmap], ...] = (
            ("text", _fts_config()),
            ("item_id", BTree()),
            ("collection_id", Bitmap()),
        )
        for column, config in wanted:
            if column not in present:
                await self._commit(partial(table.create_index, column, config=config))
        self._indexed.add(name)

    # ------------------------------------------------------------ plumbing

    async def _connect(self) -> lancedb.AsyncConnection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            import lancedb

            self._db = await lancedb.connect_async(str(self.root), read_consistency_interval=timedelta(0))
        return self._db

    def _forget(self, name: str) -> None:
        self._tables.pop(name, None)
        self._infos.pop(name, None)
        self._indexed.discard(name)

    async def _table(self, name: str, *, create_as: _TableInfo | None = None) -> AsyncTable | None:
        """The cached handle, else open it; missing → None, or created when ``create_as``."""
        if (cached := self._tables.get(name)) is not None:
            return cached
        db = await self._connect()
        try:
            table = await db.open_table(name)
        except ValueError as error:
            if not _is_missing_table(error):
                raise
            if create_as is None:
                return None
            if self._create_lock is None:
                self._create_lock = asyncio.Lock()
            async with self._create_lock:
                schema = _schema(create_as.embedding_model, create_as.dimensions)
                try:
                    table = await db.create_table(name, schema=schema)
                except ValueError as exists:  # created meanwhile, maybe by another process
                    if "already exists" not in str(exists):
                        raise
                    table = await db.open_table(name)
        self._infos[name] = _info(await table.schema())
        self._tables[name] = table
        return table

    async def _on_table(self, name: str, operation: Callable[[AsyncTable], Awaitable[T]], missing: T) -> T:
        """Run ``operation`` on the table (``missing`` when there is none).

        A cached handle that fails inside LanceDB (its table was dropped or rebuilt by
        another process) is reopened and the operation retried once.
        """
        was_cached = name in self._tables
        table = await self._table(name)
        if table is None:
            return missing
        try:
            return await operation(table)
        except (RuntimeError, OSError, ValueError):  # LanceDB's errors; ours are raised before
            if not was_cached:
                raise
            log.info("knowledge index handle is stale, reopening", extra={"table": name})
            self._forget(name)
            table = await self._table(name)
            if table is None:
                return missing
            return await operation(table)

    async def _commit(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run a write, retrying optimistic-commit conflicts with jittered backoff."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                return await write()
            except Exception as error:
                if attempt == COMMIT_ATTEMPTS or not _is_conflict(error):
                    raise
                log.info("knowledge index commit conflict, retrying", extra={"attempt": attempt})
                await asyncio.sleep(0.02 * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")


_index: KnowledgeIndex | None = None
_index_lock = threading.Lock()


def get_index() -> KnowledgeIndex:
    """The process-wide index, rooted at ``Settings.resolved_lancedb_path``.

    A new one is made when that path changes (tests point each test at its own data dir).
    """
    global _index
    root = get_settings().resolved_lancedb_path
    with _index_lock:
        if _index is None or _index.root != root:
            _index = KnowledgeIndex(root)
        return _index


def reset_index() -> None:
    """Forget the process-wide index (tests); the next ``get_index()`` opens a fresh one."""
    global _index
    with _index_lock:
        _index = None
