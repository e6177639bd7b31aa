"""P5: knowledge ingestion throughput, generated PDFs → parsed + chunked + FTS-indexed.

Generates ``--docs`` PDFs of ``--pages`` pages (about 350 words of varied prose each,
``devtools.docgen.make_pdf``), then measures two things:

1. **Pipeline stages, in this process** (no database): for every PDF, ``parse_document``
   → ``chunk_document`` → ``KnowledgeIndex.add_chunks``; then one ``optimize()`` so
   every row is in the full-text index. Pages/s = pages / (sum of stage times + optimize).
2. **Through the product**: each PDF uploaded with ``services.knowledge.upload_item``
   (stored, hashed, sniffed, recorded) and ingested by the real background path
   (``EmbeddedJobQueue``, ``KNOWLEDGE_INGEST_CONCURRENCY`` at once, or SAQ workers with
   ``--redis``), until every item is ``ready``; then ``optimize``. Wall clock, pages/s,
   against the **floor** measured just before and after in the same run: the bare parse
   of the same PDFs with the same parser in this process. Each run also prints the load
   average and the CPU per page of the floor and of every process of the product.

No embedding model is configured (full-text only): that is what the target names.
Target: ≥ 200 pages/s on this machine.

    .venv/bin/python -m bench.knowledge_ingest                 # embedded (SQLite)
    .venv/bin/python -m bench.knowledge_ingest --redis         # PostgreSQL + Redis + 1 worker subprocess
    .venv/bin/python -m bench.knowledge_ingest --redis --no-stages --repeat 3 \
        --database bench_ingest_me --redis-url redis://127.0.0.1:6379/10   # a database and Redis db of your own
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    from galaxyco_ui.knowledge.parsers import pdf
    from galaxyco_ui.knowledge.parsing import parse_document
    from galaxyco_ui.knowledge.types import ChunkRow, DocumentKind
    from galaxyco_ui.models import new_id

    settings = get_settings()
    tune_gc()  # as in the extraction processes
    index = KnowledgeIndex(tmp / "stage-index")
    workspace, collection = new_id(), new_id()
    t = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "index": 0.0, "optimize": 0.0, "chunks": 0, "pypdf": 0.0}
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
        began = time.perf_counter()  # the parser before PDFium, for comparison (not in the total)
        pdf._parse_with_pypdf(path, settings.knowledge_max_pages, settings.knowledge_max_extracted_chars)
        t["pypdf"] += time.perf_counter() - began
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


def floor(pdfs: list[bytes], tmp: Path) -> tuple[float, float]:
    """The floor: the bare parse of the same PDFs with the same parser, one process, one
    document after another (no platform, no database, no chunking): (wall s, CPU s)."""
    from galaxyco_ui.config import get_settings
    from galaxyco_ui.knowledge.parsing import parse_document
    from galaxyco_ui.knowledge.types import DocumentKind

    settings = get_settings()
    paths = []
    for n, data in enumerate(pdfs):
        path = tmp / f"floor{n}.pdf"
        path.write_bytes(data)
        paths.append(path)
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        parse_document(
            path,
            DocumentKind.PDF,
            max_pages=settings.knowledge_max_pages,
            max_chars=settings.knowledge_max_extracted_chars,
        )
    return time.perf_counter() - wall, time.process_time() - cpu


def _parents() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return parents


def cpu_snapshot(redis: bool) -> dict[str, dict[int, float]]:
    """CPU seconds so far, per pid, of: this process (uploads, polling), its worker
    subprocess (SAQ, database writes, index writes), the extraction processes below
    either of them, and (``--redis``) PostgreSQL's backends connected to the bench database."""
    import resource

    from sqlalchemy import text

    from galaxyco_ui.infra.db import session_scope

    me = os.getpid()
    parents = _parents()
    workers = [pid for pid, parent in parents.items() if parent == me] if redis else []
    extraction = [pid for pid, parent in parents.items() if parent in (me, *workers) and pid not in workers]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    groups: dict[str, list[int]] = {"worker": workers, "extraction": extraction}
    if redis:
        with session_scope() as session:
            groups["postgres"] = list(
                session.exec(  # type: ignore[call-overload]
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
    snapshot: dict[str, dict[int, float]] = {"bench": {me: usage.ru_utime + usage.ru_stime}}
    for name, pids in groups.items():
        snapshot[name] = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                snapshot[name][pid] = _setup.worker_pids_cpu([pid])
    return snapshot


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (processes that ended in between
    are not counted; the pool keeps its processes)."""
    return {
        name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
        for name, pids in after.items()
    }


async def through_product(b: _setup.Bench, pdfs: list[bytes], redis: bool) -> tuple[float, float]:
    from sqlmodel import col, func, select

    from galaxyco_ui.config import get_settings
    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.knowledge import extract
    from galaxyco_ui.knowledge.index import get_index
    from galaxyco_ui.models import ItemStatus, KnowledgeItem
    from galaxyco_ui.services import knowledge

    # A running app or worker has its extraction processes up already (warmed at start).
    if not redis:
        await extract.warm_pool(get_settings().knowledge_ingest_concurrency)
    name = f"Bench {time.time_ns()}"  # one collection per measured run
    collection = knowledge.create_collection(ctx=b.ctx, data={"name": name}).id
    began = time.perf_counter()
    ids = []
    for n, data in enumerate(pdfs):
        outcome = await knowledge.upload_item(
            ctx=b.ctx, collection_id=collection, filename=f"doc{n}.pdf", source=io.BytesIO(data)
        )
        ids.append(outcome.item.id)
    uploaded = time.perf_counter() - began
    pending = select(func.count()).where(
        KnowledgeItem.collection_id == collection,
        col(KnowledgeItem.status).in_([ItemStatus.QUEUED, ItemStatus.PROCESSING]),
    )
    while True:
        with session_scope() as session:
            if not session.exec(pending).one():
                break
        await asyncio.sleep(0.05)
    with session_scope() as session:
        statuses = session.exec(
            select(KnowledgeItem.status).where(KnowledgeItem.collection_id == collection)
        ).all()
    assert all(s == ItemStatus.READY for s in statuses), statuses
    await asyncio.to_thread(get_index().optimize, b.ctx.workspace_id)
    return uploaded, time.perf_counter() - began


async def main(args: argparse.Namespace) -> None:
    pdfs = make_pdfs(args.docs, args.pages)
    total_pages = args.docs * args.pages
    size_mb = sum(len(p) for p in pdfs) / 1e6
    print(f"{args.docs} PDFs x {args.pages} pages = {total_pages} pages, {size_mb:.1f} MB")

    if not args.no_stages:
        t = await stages(pdfs, args.pages, _setup.DATA_DIR, local_embeddings=args.local_embeddings)
        busy = t["parse"] + t["chunk"] + t["index"] + t["optimize"]
        print("\n1. pipeline stages in this process (no database)")
        print(f"   chunks: {int(t['chunks'])} ({t['chunks'] / total_pages:.2f} per page)")
        for stage in ("parse", "chunk", "index", "optimize"):
            alone = total_pages / t[stage] if t[stage] else 0
            print(f"   {stage:<9} {t[stage] * 1000:8.0f} ms  {alone:8.0f} pages/s alone")
        print(f"   total     {busy * 1000:8.0f} ms  {total_pages / busy:8.0f} pages/s  (target >= 200)")
        print(
            f"   (pypdf alone, the parser before PDFium: {t['pypdf'] * 1000:.0f} ms, "
            f"{total_pages / t['pypdf']:.0f} pages/s, {t['pypdf'] / t['parse']:.1f} x the parse stage)"
        )
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
    print(f"\n2. through the product ({mode}) against the floor (bare parse, same parser, one process)")
    rows = []
    with _setup.bench(redis=args.redis) as b:
        async with _setup.executors(b, "subprocess" if args.redis else "embedded", workers=1, concurrency=4):
            # The worker's first document also imports LanceDB and creates the workspace's
            # table (a second or more, once per process and workspace): not measured.
            await through_product(b, make_pdfs(1, 1), args.redis)
            for attempt in range(1, args.repeat + 1):
                load = os.getloadavg()[0]
                floor_wall, floor_cpu = floor(pdfs, _setup.DATA_DIR)
                before = cpu_snapshot(args.redis)
                uploaded, wall = await through_product(b, pdfs, args.redis)
                used = cpu_used(before, cpu_snapshot(args.redis))
                floor_after, _ = floor(pdfs, _setup.DATA_DIR)
                floor_rate = total_pages / ((floor_wall + floor_after) / 2)
                rate = total_pages / wall
                cpu_total = sum(used.values())
                rows.append(
                    [
                        attempt,
                        f"{load:.1f}/{os.getloadavg()[0]:.1f}",
                        round(floor_rate),
                        round(rate),
                        f"{rate / floor_rate:.2f}",
                        f"{uploaded:.1f}",
                        f"{floor_cpu * 1000 / total_pages:.2f}",
                        f"{cpu_total * 1000 / total_pages:.2f}",
                        f"{cpu_total / floor_cpu:.2f}",
                        " / ".join(f"{used[k] * 1000 / total_pages:.2f}" for k in used),
                    ]
                )
    print(f"   CPU ms per page by process: {' / '.join(used)}")
    _setup.print_table(
        [
            "run",
            "load before/after",
            "floor pages/s",
            "product pages/s",
            "product/floor",
            "uploads s",
            "floor CPU ms/page",
            "product CPU ms/page",
            "CPU product/floor",
            "CPU ms/page by process",
        ],
        rows,
    )
    print("   target: product >= 200 pages/s")


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
    parser.add_argument("--no-stages", action="store_true", help="skip the in-process stages diagnostic")
    parser.add_argument("--repeat", type=int, default=1, help="product runs, each between two floor runs")
    parser.add_argument(
        "--database",
        default=_setup.BENCH_DB,
        help="--redis: scratch PostgreSQL database, created and dropped here (name starts with 'bench' or 'galaxyco_bench')",
    )
    parser.add_argument("--redis-url", default=_setup.REDIS_URL, help="--redis: Redis db, flushed at start")
    arguments = parser.parse_args()
    if not arguments.database.startswith(("bench", "galaxyco_bench")):
        parser.error("--database must start with 'bench': the bench drops it")
    _setup.BENCH_DB, _setup.REDIS_URL = arguments.database, arguments.redis_url
    _setup.configure(redis=arguments.redis)
    os.environ["KNOWLEDGE_INGEST_CONCURRENCY"] = str(arguments.concurrency)
    asyncio.run(main(arguments))
