"""Background ingestion: original file → parsed text → chunks → (vectors) → index.

``enqueue_ingest(item_id)`` hands an item to the configured job queue (``jobs``): the SAQ
queue the workers read when Redis is configured, else an asyncio task in this process (at
most ``KNOWLEDGE_INGEST_CONCURRENCY`` at once). ``ingest_item(item_id)`` is the job itself
(``ingest_item_job``; ``optimize_workspace`` is ``optimize_workspace_job``);
like the run executor it takes an id, reloads everything, and does nothing when the
item is not queued any more (deleted, or already taken by another worker).

Each stage updates the item's ``progress`` so the collection screen can show it. A bad
file fails only its own item, with the parser's message; an unexpected error fails the
item with a generic message and is logged with the ids.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select, update

from galaxyco_ui import notifications
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.infra import metrics
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.tracing import annotate_item, ingest_stage_span, ingest_traced
from galaxyco_ui.jobs import get_job_queue, job
from galaxyco_ui.knowledge import extract, storage
from galaxyco_ui.knowledge.extract import Extracted
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.types import ChunkRow, DocumentError, DocumentKind
from galaxyco_ui.knowledge.workspace import load_embedder
from galaxyco_ui.models import ItemStatus, KnowledgeItem, new_id, utcnow
from galaxyco_ui.webhooks.events import enqueue_deliveries, record_item_event

log = logging.getLogger("galaxyco.knowledge")

INGEST_JOB = "ingest_item_job"
OPTIMIZE_JOB = "optimize_workspace_job"
# An item left "processing" this long without a progress update lost its worker.
STALLED_AFTER = timedelta(minutes=10)
# While a document is read, its item's updated_at is refreshed this often (well under
# STALLED_AFTER, so a live extraction is never taken for a stalled one).
EXTRACT_HEARTBEAT_SECONDS = 30.0
_EMBED_BATCH = 64


async def enqueue_ingest(item_id: str) -> None:
    """Queue an item for ingestion (the item must be ``queued``).

    Every call gets its own job key: a re-index requested while the previous job is
    still winding down must not be dropped as a duplicate. Duplicates are harmless:
    only one job can claim the queued item.
    """
    await get_job_queue().enqueue(INGEST_JOB, key=f"ingest-{item_id}-{new_id()[:8]}", item_id=item_id)


async def enqueue_optimize(workspace_id: str) -> None:
    """Optimize the workspace's index soon: new rows are scanned, not indexed, until then.

    Debounced: while one optimize job for the workspace waits (``KNOWLEDGE_OPTIMIZE_DELAY_SECONDS``),
    more ingested items join it instead of queuing their own.
    """
    await get_job_queue().enqueue(
        OPTIMIZE_JOB,
        key=f"optimize-{workspace_id}",
        delay=get_settings().knowledge_optimize_delay_seconds,
        workspace_id=workspace_id,
    )


@job(OPTIMIZE_JOB)
async def optimize_workspace(workspace_id: str) -> int:
    """Job: bring one workspace's index up to date; returns the rows that were unindexed."""
    index = get_index()
    if not await asyncio.to_thread(index.needs_optimize, workspace_id):
        return 0
    report = await asyncio.to_thread(index.optimize, workspace_id)
    return report.unindexed_before


def _claim(item_id: str) -> KnowledgeItem | None:
    with session_scope() as session:
        claimed = session.exec(
            update(KnowledgeItem)
            .where(col(KnowledgeItem.id) == item_id, col(KnowledgeItem.status) == ItemStatus.QUEUED)
            .values(status=ItemStatus.PROCESSING, progress=1, error="", updated_at=utcnow())
        ).rowcount
        if not claimed:
            return None
        return session.get(KnowledgeItem, item_id)


def _progress(item_id: str, percent: int) -> None:
    with session_scope() as session:
        session.exec(
            update(KnowledgeItem)
            .where(col(KnowledgeItem.id) == item_id, col(KnowledgeItem.status) == ItemStatus.PROCESSING)
            .values(progress=percent, updated_at=utcnow())
        )


def _finish(
    item_id: str, *, notices: list[notifications.Announcement] | None = None, **values: Any
) -> list[str] | None:
    """Write the outcome; None when the item was deleted meanwhile.

    A failed item also notifies its uploader ("document failed to index"), appended to
    ``notices`` (announce it after this returns).

    Returns:
        The webhook deliveries of the item's ``knowledge.item.ready`` or ``.failed``
        event, recorded in the same transaction (enqueue them after it).
    """
    with session_scope() as session:
        done = session.exec(
            update(KnowledgeItem)
            .where(col(KnowledgeItem.id) == item_id, col(KnowledgeItem.status) == ItemStatus.PROCESSING)
            .values(updated_at=utcnow(), **values)
        ).rowcount
        if not done:
            return None
        item = session.get(KnowledgeItem, item_id)
        if item is None:
            return []
        deliveries = record_item_event(session, item)
        if item.status == ItemStatus.FAILED and item.created_by and notices is not None:
            notices.append(
                notifications.record(
                    session,
                    workspace_id=item.workspace_id,
                    kind="document_failed",
                    title=f"{item.name} failed to index",
                    body=item.error,
                    link=f"/knowledge/items/{item.id}",
                    user_ids=[item.created_by],
                )
            )
        return deliveries


def _heartbeat(item_id: str) -> None:
    """Show the item's ingestion is alive (maintenance re-queues items whose updates stop)."""
    with session_scope() as session:
        session.exec(
            update(KnowledgeItem)
            .where(col(KnowledgeItem.id) == item_id, col(KnowledgeItem.status) == ItemStatus.PROCESSING)
            .values(updated_at=utcnow())
        )


async def _extract(item_id: str, path: Path, kind: DocumentKind) -> Extracted:
    """Parse and chunk in the extraction process pool (see ``knowledge.extract``).

    A long document keeps the item's ``updated_at`` fresh while it is read, so that
    maintenance does not take it for one whose worker died and queue it a second time.
    """
    settings = get_settings()
    pool = extract.get_pool(settings.knowledge_ingest_concurrency)
    call = functools.partial(
        extract.extract_chunks,
        path,
        kind,
        max_pages=settings.knowledge_max_pages,
        max_chars=settings.knowledge_max_extracted_chars,
        target_tokens=settings.knowledge_chunk_tokens,
        overlap=settings.knowledge_chunk_overlap,
    )

    async def heartbeat() -> None:
        await asyncio.to_thread(_heartbeat, item_id)

    timeout = settings.knowledge_extract_timeout_seconds
    try:
        return await pool.run(
            call, limit_seconds=timeout, heartbeat=heartbeat, heartbeat_seconds=EXTRACT_HEARTBEAT_SECONDS
        )
    except extract.ExtractionTimeout:
        log.warning("extraction timed out", extra={"item_id": item_id, "seconds": timeout})
        raise DocumentError(
            f"Reading this document took longer than {timeout} s and was stopped. It may be far too "
            "complex or malformed: try re-saving it in another program, or split it, and upload it again."
        ) from None
    except BrokenProcessPool:
        raise DocumentError(extract.crashed_message()) from None


@job(INGEST_JOB)
@ingest_traced  # a trace per ingestion when tracing is on: a span per stage, below
async def ingest_item(item_id: str) -> str | None:
    """Run the pipeline for one queued item; returns its final status (None if skipped)."""
    item = await asyncio.to_thread(_claim, item_id)
    if item is None:
        return None
    annotate_item(workspace_id=item.workspace_id, kind=item.kind)
    began = time.monotonic()
    workspace_id = item.workspace_id
    try:
        path = storage.original_path(workspace_id, item.id)
        if not path.is_file():
            raise FileNotFoundError(path)
        with ingest_stage_span("extract") as stage:  # parse and chunk, in a pool process
            extracted = await _extract(item_id, path, DocumentKind(item.kind))
            stage.child(
                "ingest.chunk",
                extracted.chunk_started_ns,
                extracted.chunk_ended_ns,
                chunks=len(extracted.chunks),
            )
        await asyncio.to_thread(_progress, item_id, 50)
        rows = [
            ChunkRow(
                item_id=item.id,
                collection_id=item.collection_id,
                ordinal=c.ordinal,
                text=c.text,
                heading=c.heading,
                page=c.page,
                token_count=c.token_count,
            )
            for c in extracted.chunks
        ]
        embedder = await asyncio.to_thread(load_embedder, workspace_id)
        vectors: list[list[float]] | None = None
        if embedder is not None and rows:
            vectors = []
            with ingest_stage_span("embed", chunks=len(rows), model=embedder.model_id):
                for start in range(0, len(rows), _EMBED_BATCH):
                    batch = [r.text for r in rows[start : start + _EMBED_BATCH]]
                    vectors.extend(await embedder.embed(batch, kind="document"))
                    done = min(start + _EMBED_BATCH, len(rows))
                    await asyncio.to_thread(_progress, item_id, 50 + int(40 * done / len(rows)))
        index = get_index()

        def write() -> None:
            index.delete_item(workspace_id, item.id)
            if rows:
                index.add_chunks(
                    workspace_id,
                    rows,
                    vectors,
                    embedding_model=embedder.model_id if embedder is not None else "",
                )

        with ingest_stage_span("index", chunks=len(rows)):
            await asyncio.to_thread(write)
        kept = await asyncio.to_thread(
            _finish,
            item_id,
            status=ItemStatus.READY,
            progress=100,
            chunk_count=len(rows),
            page_count=extracted.page_count,
            char_count=extracted.char_count,
            embedding_model=embedder.model_id if embedder is not None else "",
            indexed_at=utcnow(),
        )
        if kept is None:  # deleted while we worked: take its chunks back out
            await asyncio.to_thread(index.delete_item, workspace_id, item.id)
            return None
        metrics.ingest_finished(ItemStatus.READY, pages=extracted.page_count or 0)
        await enqueue_deliveries(kept)
        await enqueue_optimize(workspace_id)
        log.info(
            "item indexed",
            extra={
                "item_id": item_id,
                "workspace_id": workspace_id,
                "chunks": len(rows),
                "seconds": round(time.monotonic() - began, 3),
            },
        )
        return ItemStatus.READY
    except GalaxyError as error:
        message = error.message
    except FileNotFoundError:
        message = "The original file is missing. Upload the document again."
    except Exception:
        log.exception("ingestion failed", extra={"item_id": item_id, "workspace_id": workspace_id})
        message = "Indexing failed because of an internal error. Try “Re-index”; if it fails again, contact support."
    notices: list[notifications.Announcement] = []
    failed = await asyncio.to_thread(
        _finish, item_id, notices=notices, status=ItemStatus.FAILED, error=message[:1000], progress=0
    )
    if failed is not None:
        metrics.ingest_finished(ItemStatus.FAILED)
    await enqueue_deliveries(failed or [])
    await notifications.announce_all(notices)
    log.info("item failed", extra={"item_id": item_id, "workspace_id": workspace_id, "error": message})
    return ItemStatus.FAILED


def requeue_stalled_items(
    *, stalled_after: timedelta = STALLED_AFTER, include_queued: bool = False
) -> list[str]:
    """Put items whose ingestion stopped (a worker or the app died) back in the queue.

    ``include_queued`` also returns items still ``queued``: after an embedded restart their
    in-memory tasks are gone, so they must be enqueued again (a duplicate enqueue is
    harmless: the claim lets one through).
    """
    cutoff = utcnow() - stalled_after
    with session_scope() as session:
        stalled = session.exec(
            select(KnowledgeItem.id).where(
                KnowledgeItem.status == ItemStatus.PROCESSING, col(KnowledgeItem.updated_at) < cutoff
            )
        ).all()
        if stalled:
            session.exec(
                update(KnowledgeItem)
                .where(col(KnowledgeItem.id).in_(stalled), col(KnowledgeItem.status) == ItemStatus.PROCESSING)
                .values(status=ItemStatus.QUEUED, progress=0, updated_at=utcnow())
            )
        queued = (
            session.exec(select(KnowledgeItem.id).where(KnowledgeItem.status == ItemStatus.QUEUED)).all()
            if include_queued
            else []
        )
    return list(dict.fromkeys([*stalled, *queued]))


async def maintain_once(*, include_queued: bool = False) -> dict[str, Any]:
    """One maintenance pass: re-queue stalled items, then optimize tables that need it."""
    for item_id in await asyncio.to_thread(requeue_stalled_items, include_queued=include_queued):
        await enqueue_ingest(item_id)
    reports = await asyncio.to_thread(get_index().optimize_all)
    return {"optimized": len(reports)}


async def maintenance_loop(interval: float | None = None, *, first_delay: float = 5.0) -> None:
    """Run ``maintain_once`` forever (embedded lifespan task and workers)."""
    interval = interval or float(get_settings().knowledge_maintenance_seconds)
    await extract.warm_pool(get_settings().knowledge_ingest_concurrency)
    await asyncio.sleep(first_delay)
    include_queued = True  # the first pass after a start picks up what a restart dropped
    while True:
        try:
            await maintain_once(include_queued=include_queued)
            include_queued = False
        except Exception:
            log.exception("knowledge maintenance failed")
        await asyncio.sleep(interval)
