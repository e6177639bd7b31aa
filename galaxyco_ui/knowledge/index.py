"""The chunk index: LanceDB full-text (BM25), vector and hybrid search, one table per workspace.

Why a table per workspace:

- each workspace picks its own embedding model, so the vector dimension differs per
  workspace (a table has one fixed-size vector column, or none: full text only);
- isolation by construction: a search opens only its own workspace's table. Collection and
  item ids are also checked as 32-hex before they go into a filter string, and every
  search filters by collection when asked to;
- deleting a workspace drops its table; maintenance (``optimize``) runs per table.

``KnowledgeIndex`` is the only way in; its parts live next to it:

- ``index_schema``: table names, columns, indexes, ``ChunkRow`` conversion, and the
  commit-conflict retry every write goes through (``IndexMismatchError`` when vectors of
  another model arrive; the workspace must be re-indexed, see ``reset_workspace_vectors``);
- ``index_search``: full-text, vector and hybrid search, reciprocal-rank fusion, scores;
- ``index_maintenance``: ``needs_optimize`` and ``optimize`` (compaction, index updates,
  the vector index once the table is big enough, cleanup of old versions).

The names callers use (``KnowledgeIndex``, ``get_index``, ``IndexMismatchError``,
``OptimizeReport``, ``SearchMode``, ``table_name``, ``fts_terms``, ``MAX_LIMIT``) are
importable from here.

Concurrency: the app and the workers write the same tables. LanceDB commits optimistically,
so every write retries a commit conflict (``index_schema.commit``). The connection checks
for newer versions on every read (``read_consistency_interval=0``, measured as free), so
other processes' writes are seen. All LanceDB calls run on one private event-loop thread
through LanceDB's async API (one hop per search instead of several through the sync API,
~2.5 ms saved per query); the public methods are synchronous and thread-safe, and callers
run them in a thread (``asyncio.to_thread``). The opened tables are cached on that loop
thread, and a handle that fails (its table was dropped or rebuilt by another process) is
reopened once.

Do not ``fork`` a process after it used the index: LanceDB's runtime threads do not survive
a fork, and the child hangs (start subprocesses by exec or multiprocessing ``spawn``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    # lancedb is imported where it is used: the app module is imported by Reflex's
    # parent process, which then forks its server workers, and LanceDB's runtime is
    # not fork-safe. Nothing LanceDB is loaded before the fork this way.
    import lancedb
    from lancedb.table import AsyncTable

from galaxyco_ui.config import get_settings
from galaxyco_ui.knowledge import index_maintenance
from galaxyco_ui.knowledge.index_maintenance import OptimizeReport
from galaxyco_ui.knowledge.index_schema import (
    ID,
    ROW_COLUMNS,
    TABLE_PREFIX,
    IndexMismatchError,
    TableInfo,
    checked_id,
    chunk_rows,
    commit,
    create_missing_indexes,
    describe,
    is_missing_table,
    table_info,
    table_name,
    table_schema,
)
from galaxyco_ui.knowledge.index_search import MAX_LIMIT, SearchMode, fts_terms, search_table
from galaxyco_ui.knowledge.types import ChunkRow, SearchHit

__all__ = [
    "MAX_LIMIT",
    "IndexMismatchError",
    "KnowledgeIndex",
    "OptimizeReport",
    "SearchMode",
    "fts_terms",
    "get_index",
    "reset_index",
    "table_name",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        self._infos: dict[str, TableInfo] = {}
        self._indexed: set[str] = set()  # tables whose FTS and scalar indexes exist
        self._snapshots: dict[str, tuple[int, AsyncTable]] = {}  # see _snapshot
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
        info = TableInfo(embedding_model if vectors is not None else "", 0)
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
            info = TableInfo(embedding_model, int(matrix.shape[1]))
        data = self._arrow(workspace_id, rows, info, matrix if vectors is not None else None)
        _loop_thread().run(self._add(name, data, info))

    def _arrow(
        self, workspace_id: str, rows: Sequence[ChunkRow], info: TableInfo, matrix: np.ndarray | None
    ) -> pa.Table:
        schema = table_schema(info.embedding_model, info.dimensions)
        columns: dict[str, Any] = {
            "chunk_id": [r.chunk_id for r in rows],
            "workspace_id": [workspace_id] * len(rows),
            "collection_id": [checked_id(r.collection_id, "collection") for r in rows],
            "item_id": [checked_id(r.item_id, "item") for r in rows],
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

    async def _add(self, name: str, data: pa.Table, wanted: TableInfo) -> None:
        was_cached = name in self._tables
        try:
            await self._add_once(name, data, wanted)
        except (RuntimeError, OSError, ValueError):
            if not was_cached:
                raise
            log.info("knowledge index handle is stale, reopening", extra={"table": name})
            self._forget(name)
            await self._add_once(name, data, wanted)

    async def _add_once(self, name: str, data: pa.Table, wanted: TableInfo) -> None:
        table = await self._table(name, create_as=wanted)
        assert table is not None
        have = self._infos[name] = table_info(await table.schema())
        if have != wanted:
            raise IndexMismatchError(
                f"This workspace's search index was built for {describe(have)}, but these "
                f"documents come with {describe(wanted)}. The index must be rebuilt: re-index "
                "the workspace's documents (Settings → Knowledge)."
            )
        await commit(lambda: table.add(data))
        await self._ensure_indexes(name, table)

    def delete_item(self, workspace_id: str, item_id: str) -> None:
        """Remove every chunk of one item (nothing happens if there are none)."""
        where = f"item_id = '{checked_id(item_id, 'item')}'"
        _loop_thread().run(self._delete(table_name(workspace_id), where))

    def delete_collection(self, workspace_id: str, collection_id: str) -> None:
        """Remove every chunk of one collection."""
        where = f"collection_id = '{checked_id(collection_id, 'collection')}'"
        _loop_thread().run(self._delete(table_name(workspace_id), where))

    async def _delete(self, name: str, where: str) -> None:
        async def delete(table: AsyncTable) -> None:
            await commit(lambda: table.delete(where))

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
        where = f"item_id = '{checked_id(item_id, 'item')}'"

        async def read(table: AsyncTable) -> list[ChunkRow]:
            result = await table.query().where(where).select(ROW_COLUMNS).to_arrow()
            return sorted(chunk_rows(result), key=lambda r: r.ordinal)

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
        collections = (
            None if collection_ids is None else frozenset(checked_id(c, "collection") for c in collection_ids)
        )
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
                info = self._infos[name] = table_info(await table.schema())
            terms = fts_terms(query)
            return await search_table(
                table, info, terms, vector, collections, mode, limit, lambda: self._snapshot(name, table)
            )

        return _loop_thread().run(self._on_table(name, run, []))

    # ------------------------------------------------------------ maintenance

    def needs_optimize(self, workspace_id: str) -> bool:
        """Whether ``optimize`` would help: unindexed rows, many small fragments, or a
        vector index that is due. False when the workspace has no table."""
        return _loop_thread().run(
            self._on_table(table_name(workspace_id), index_maintenance.needs_optimize, False)
        )

    def optimize(self, workspace_id: str) -> OptimizeReport:
        """Compact the table, bring every index up to date, drop old versions.

        Creates the vector index once the table has ``index_maintenance.VECTOR_INDEX_MIN_ROWS``
        rows. Retries commit conflicts (another process wrote meanwhile) up to
        ``index_schema.COMMIT_ATTEMPTS`` times.

        Returns:
            The report; all zeros when the workspace has no table.
        """
        empty = OptimizeReport(workspace_id, 0, 0, 0, 0.0, attempts=0)
        name = table_name(workspace_id)

        async def run(table: AsyncTable) -> OptimizeReport:
            return await index_maintenance.optimize_table(
                workspace_id, table, lambda: self._ensure_indexes(name, table)
            )

        return _loop_thread().run(self._on_table(name, run, empty))

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
        return sorted(i for i in ids if ID.match(i))

    async def _ensure_indexes(self, name: str, table: AsyncTable) -> None:
        if name in self._indexed:
            return
        await create_missing_indexes(table)
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
        self._snapshots.pop(name, None)
        self._infos.pop(name, None)
        self._indexed.discard(name)

    async def _table(self, name: str, *, create_as: TableInfo | None = None) -> AsyncTable | None:
        """The cached handle, else open it; missing → None, or created when ``create_as``."""
        if (cached := self._tables.get(name)) is not None:
            return cached
        db = await self._connect()
        try:
            table = await db.open_table(name)
        except ValueError as error:
            if not is_missing_table(error):
                raise
            if create_as is None:
                return None
            if self._create_lock is None:
                self._create_lock = asyncio.Lock()
            async with self._create_lock:
                schema = table_schema(create_as.embedding_model, create_as.dimensions)
                try:
                    table = await db.create_table(name, schema=schema)
                except ValueError as exists:  # created meanwhile, maybe by another process
                    if "already exists" not in str(exists):
                        raise
                    table = await db.open_table(name)
        self._infos[name] = table_info(await table.schema())
        self._tables[name] = table
        return table

    async def _snapshot(self, name: str, table: AsyncTable) -> AsyncTable:
        """A handle on ``table`` checked out at its latest version, which never moves.

        A hybrid search runs its three queries on one (row ids are valid within one version
        only), and a checked-out handle skips the check for a newer version on each query.
        One per table, replaced when the table has moved on; a search still running on the
        previous one keeps it. An old version stays readable until maintenance cleans it up
        (``index_maintenance.KEEP_VERSIONS_FOR`` after a newer one); a search that fails
        meanwhile is retried once on fresh handles (``_on_table``).
        """
        version = await table.version()
        cached = self._snapshots.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        db = await self._connect()
        snapshot = await db.open_table(name)
        await snapshot.checkout(version)
        self._snapshots[name] = (version, snapshot)
        return snapshot

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
