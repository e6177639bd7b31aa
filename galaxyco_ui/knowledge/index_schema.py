"""What a workspace's chunk table is: its name, columns, indexes, rows, and how writes commit.

Layout: ``Settings.resolved_lancedb_path/ws_<workspace_id>.lance``, one table per workspace
(ids are 32 lowercase hex characters; anything else raises ``ValueError``). Collection and
item ids are checked the same way before they go into a filter string.

Columns: ``chunk_id`` (``<item_id>:<ordinal>``), ``workspace_id``, ``collection_id``,
``item_id``, ``ordinal``, ``text``, ``heading``, ``page`` (-1 for none), ``token_count`` and,
when the workspace embeds, ``vector`` (float32, one per dimension). The schema metadata records
the embedding model id and dimensions (``table_info``); adding vectors of another model raises
``IndexMismatchError``.

Indexes: FTS on ``text`` (lowercased, English stemming, stop words kept so that a query
of common words still finds something), BTREE on ``item_id``, BITMAP on ``collection_id``,
created with the table (``create_missing_indexes``); HNSW_SQ on ``vector`` later, by
maintenance (``index_maintenance``).

Writes: LanceDB commits optimistically, so every write goes through ``commit``, which
retries a commit conflict up to ``COMMIT_ATTEMPTS`` times with a short jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from lancedb.index import FTS, Bitmap, BTree
    from lancedb.table import AsyncTable

from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.knowledge.types import ChunkRow

log = logging.getLogger("galaxyco_ui.knowledge.index")

T = TypeVar("T")

TABLE_PREFIX = "ws_"
COMMIT_ATTEMPTS = 5

ID = re.compile(r"^[0-9a-f]{32}$")
_META_MODEL = b"galaxyco.embedding_model"
_META_DIMENSIONS = b"galaxyco.dimensions"
# What a hit needs; item id and ordinal come from chunk_id (each column read costs ~0.5 ms
# of CPU per search at 100k rows, see bench/knowledge_search.py).
ROW_COLUMNS = ["chunk_id", "collection_id", "text", "heading", "page", "token_count"]


class IndexMismatchError(GalaxyError):
    """The workspace's table holds vectors of another embedding model (or none)."""


@dataclass(frozen=True, slots=True)
class TableInfo:
    embedding_model: str
    dimensions: int  # 0 = no vector column


def table_name(workspace_id: str) -> str:
    """The table of ``workspace_id``.

    Raises:
        ValueError: the id is not 32 lowercase hex characters.
    """
    return TABLE_PREFIX + checked_id(workspace_id, "workspace")


def checked_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID.match(value):
        raise ValueError(f"invalid {what} id: {value!r}")
    return value


def in_filter(column: str, ids: Iterable[str], what: str) -> str:
    quoted = ", ".join(f"'{checked_id(i, what)}'" for i in dict.fromkeys(ids))
    return f"{column} IN ({quoted})"


def fts_config() -> FTS:
    from lancedb.index import FTS

    return FTS(language="English", lower_case=True, stem=True, remove_stop_words=False, ascii_folding=True)


# One HNSW graph (no IVF split) with LanceDB's defaults (m 20, ef_construction 300): 100k x
# 384-d builds in ~40 s here; ef_construction 150 built in 28 s but lost recall.
def vector_config() -> Any:
    from lancedb.index import HnswSq

    return HnswSq(distance_type="l2", num_partitions=1)


def table_schema(embedding_model: str, dimensions: int) -> pa.Schema:
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


def table_info(schema: pa.Schema) -> TableInfo:
    """The embedding model and vector dimensions a table's schema records."""
    meta = schema.metadata or {}
    dimensions = 0
    if "vector" in schema.names:
        dimensions = schema.field("vector").type.list_size
    return TableInfo(meta.get(_META_MODEL, b"").decode(), dimensions)


def describe(info: TableInfo) -> str:
    if not info.dimensions:
        return "full-text search only (no embedding model)"
    return f"{info.embedding_model or 'an unnamed model'} ({info.dimensions}-dimensional vectors)"


def chunk_rows(table: pa.Table) -> list[ChunkRow]:
    """``ChunkRow``s from a result holding ``ROW_COLUMNS``."""
    found = []
    for r in table.select(ROW_COLUMNS).to_pylist():
        item_id, ordinal = r["chunk_id"].rsplit(":", 1)
        found.append(
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
    return found


def is_missing_table(error: BaseException) -> bool:
    return isinstance(error, ValueError) and "was not found" in str(error)


def _is_conflict(error: BaseException) -> bool:
    text = str(error).lower()
    return "conflict" in text or "preempted" in text or "retryable" in text


async def commit(write: Callable[[], Awaitable[T]]) -> T:
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


async def create_missing_indexes(table: AsyncTable) -> None:
    """The full-text and scalar indexes every table has, created where missing."""
    from lancedb.index import Bitmap, BTree

    present = {column for config in await table.list_indices() for column in config.columns}
    wanted: tuple[tuple[str, FTS | BTree | Bitmap], ...] = (
        ("text", fts_config()),
        ("item_id", BTree()),
        ("collection_id", Bitmap()),
    )
    for column, config in wanted:
        if column not in present:
            await commit(partial(table.create_index, column, config=config))
