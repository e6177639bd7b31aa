"""P5: knowledge ingestion throughput, generated PDFs → parsed + chunked + FTS-indexed.

Generates ``--docs`` PDFs of ``--pages`` pages (about 350 words of varied prose each,
``devtools.docgen.make_pdf``), then measures two things:

1. **Pipeline stages, in this process** (no database): for every PDF, ``parse_document``
   → ``chunk_document`` → ``KnowledgeIndex.add_chunks``; then one ``optimize()`` so
   every row is in the full-text index. Pages/s = pages / (sum of stage times + optimize).
2. **Through the product**: each PDF uploaded with ``services.knowledge.upload_item``
   (stored, hashed, sniffed, recorded) and ingested by the real background path
   (``EmbeddedJobQueue``, ``KNOWLEDGE_INGEST_CONCURRENCY`` at once, or SAQ workers with
   ``--redis``), until every item is ``ready``; then ``optimize``. Wall clock, pages/s.

No embedding model is configured (full-text only): that is what the target names.
Target: ≥ 200 pages/s on this machine.

    .venv/bin/python -m bench.knowledge_ingest                 # embedded (SQLite)
    .venv/bin/python -m bench.knowledge_ingest --redis         # PostgreSQL + Redis + 1 worker subprocess
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import time
from pathlib import Path

from bench import _setup

WORDS = [
    "policy",
    "employee",
    "leave",
    "travel",
    "expense",
    "budget",
    "report",
    "quarter",
    "review",
    "customer",
    "contract",
    "invoice",
    "payment",
    "supplier",
    "deadline",
    "project",
    "milestone",
    "release",
    "security",
    "password",
    "access",
    "account",
    "device",
    "laptop",
    "network",
    "office",
    "remote",
    "schedule",
    "meeting",
    "agenda",
    "decision",
    "approval",
    "manager",
    "team",
    "onboarding",
    "training",
    "handbook",
    "benefit",
    "insurance",
    "pension",
    "salary",
    "bonus",
    "audit",
    "compliance",
    "privacy",
    "retention",
    "backup",
    "incident",
    "response",
    "escalation",
    "support",
    "ticket",
    "priority",
    "product",
    "feature",
    "roadmap",
    "launch",
    "market",
    "pricing",
    "discount",
    "partner",
    "channel",
    "region",
    "forecast",
]


def page_text(rng: random.Random, doc: int, page: int) -> str:
    sentences = []
    for _ in range(28):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 17))]
        sentences.append(" ".join(words).capitalize() + ".")
    return f"Document {doc} page {page}. " + " ".join(sentences)


def make_pdfs(docs: int, pages: int) -> list[bytes]:
    from galaxyco_ui.devtools.docgen import make_pdf

    rng = random.Random(5)
    return [make_pdf([page_text(rng, d, p) for p in range(pages)]) for d in range(docs)]


async def stages(
    pdfs: list[bytes], pages: int, tmp: Path, *, local_embeddings: bool = False
) -> dict[str, float]:
    from galaxyco_ui.config import get_settings
    from galaxyco_ui.knowledge.chunking import chunk_document
    from galaxyco_ui.knowledge.extract import tune_gc
    from galaxyco_ui.knowledge.index import KnowledgeIndex
    from galaxyco_ui.knowledge.parsing import parse_document
    from galaxyco_ui.knowledge.types import ChunkRow, DocumentKind
    from galaxyco_ui.models import new_id

    settings = get_settings()
    tune_gc()  # as in the extraction processes
    index = KnowledgeIndex(tmp / "stage-index")
    workspace, collection = new_id(), new_id()
    t = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "index": 0.0, "optimize": 0.0, "chunks": 0}
    embedder = None
    if local_embeddings:
        from galaxyco_ui.knowledge.embeddings import make_embedder

        embedder = make_embedder("local:all-minilm-l6-v2")
        began = time.perf_counter()
        await embedder.embed(["warm up: loads the model once"], kind="document")
        t["model_load"] = time.perf_counter() - began
    for n, data in enumerate(pdfs):
        path = tmp / f"doc{n}.pdf"
        path.write_bytes(data)
        began = time.perf_counter()
        doc = parse_document(
            path,
            DocumentKind.PDF,
            max_pages=settings.knowledge_max_pages,
            max_chars=settings.knowledge_max_extracted_chars,
        )
        t["parse"] += time.perf_counter() - began
        began = time.perf_counter()
        chunks = chunk_document(
            doc, target_tokens=settings.knowledge_chunk_tokens, overlap=settings.knowledge_chunk_overlap
        )
        t["chunk"] += time.perf_counter() - began
        item = new_id()
        rows = [
            ChunkRow(item, collection, c.ordinal, c.text, c.heading, c.page, c.token_count) for c in chunks
        ]
        t["chunks"] += len(rows)
        vectors = None
        if embedder is not None:
            began = time.perf_counter()
            vectors = await embedder.embed([r.text for r in rows], kind="document")
            t["embed"] += time.perf_counter() - began
        began = time.perf_counter()
        index.add_chunks(workspace, rows, vectors, embedding_model=embedder.model_id if embedder else "")
        t["index"] += time.perf_counter() - began
    began = time.perf_counter()
    index.optimize(workspace)
    t["optimize"] += time.perf_counter() - began
    assert not index.needs_optimize(workspace)
    hits = index.search(workspace, "Document 3 page 7", collection_ids=None, limit=3)
    assert hits, "the indexed text is searchable"
    return t


async def through_product(b: _setup.Bench, pdfs: list[bytes], redis: bool) -> tuple[float, float]:
    from sqlmodel import select

    from galaxyco_ui.config import get_settings
    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.knowledge import extract
    from galaxyco_ui.knowledge.index import get_index
    from galaxyco_ui.models import ItemStatus, KnowledgeItem
    from galaxyco_ui.services import knowledge

    # A running app or worker has its extraction processes up already (warmed at start).
    if not redis:
        await extract.warm_pool(get_settings().knowledge_ingest_concurrency)
    collection = knowledge.create_collection(ctx=b.ctx, data={"name": "Bench"}).id
    began = time.perf_counter()
    ids = []
    for n, data in enumerate(pdfs):
        outcome = await knowledge.upload_item(
            ctx=b.ctx, collection_id=collection, filename=f"doc{n}.pdf", source=io.BytesIO(data)
        )
        ids.append(outcome.item.id)
    uploaded = time.perf_counter() - began
    while True:
        with session_scope() as session:
            statuses = session.exec(
                select(KnowledgeItem.status).where(KnowledgeItem.collection_id == collection)
            ).all()
        if all(s in (ItemStatus.READY, ItemStatus.FAILED) for s in statuses):
            break
        await asyncio.sleep(0.01)
    assert all(s == ItemStatus.READY for s in statuses), statuses
    await asyncio.to_thread(get_index().optimize, b.ctx.workspace_id)
    return uploaded, time.perf_counter() - began


async def main(args: argparse.Namespace) -> None:
    pdfs = make_pdfs(args.docs, args.pages)
    total_pages = args.docs * args.pages
    size_mb = sum(len(p) for p in pdfs) / 1e6
    print(f"{args.docs} PDFs x {args.pages} pages = {total_pages} pages, {size_mb:.1f} MB")

    t = await stages(pdfs, args.pages, _setup.DATA_DIR, local_embeddings=args.local_embeddings)
    busy = t["parse"] + t["chunk"] + t["index"] + t["optimize"]
    print("\n1. pipeline stages in this process (no database)")
    print(f"   chunks: {int(t['chunks'])} ({t['chunks'] / total_pages:.2f} per page)")
    for stage in ("parse", "chunk", "index", "optimize"):
        print(
            f"   {stage:<9} {t[stage] * 1000:8.0f} ms  {total_pages / t[stage] if t[stage] else 0:8.0f} pages/s alone"
        )
    print(f"   total     {busy * 1000:8.0f} ms  {total_pages / busy:8.0f} pages/s  (target >= 200)")
    if args.local_embeddings:
        print(
            f"   embedding, local MiniLM (reported apart, model load {t['model_load']:.1f} s): "
            f"{t['embed'] * 1000:.0f} ms, {t['chunks'] / t['embed']:.0f} chunks/s, {total_pages / t['embed']:.0f} pages/s"
        )
    if args.stages_only:
        return

    mode = (
        "PostgreSQL + Redis, SAQ worker subprocess" if args.redis else "embedded (SQLite, in-process queue)"
    )
    with _setup.bench(redis=args.redis) as b:
        async with _setup.executors(b, "subprocess" if args.redis else "embedded", workers=1, concurrency=4):
            uploaded, wall = await through_product(b, pdfs, args.redis)
    print(f"\n2. through the product: {mode}")
    print(f"   upload (store, hash, sniff, record, enqueue): {uploaded * 1000:.0f} ms")
    print(
        f"   upload -> all ready -> optimized: {wall * 1000:.0f} ms  {total_pages / wall:.0f} pages/s  (target >= 200)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2, help="KNOWLEDGE_INGEST_CONCURRENCY")
    parser.add_argument(
        "--local-embeddings",
        action="store_true",
        help="also embed every chunk with the optional local MiniLM (stage 1 only, timed apart)",
    )
    parser.add_argument("--stages-only", action="store_true", help="skip the through-the-product part")
    arguments = parser.parse_args()
    _setup.configure(redis=arguments.redis)
    os.environ["KNOWLEDGE_INGEST_CONCURRENCY"] = str(arguments.concurrency)
    asyncio.run(main(arguments))
