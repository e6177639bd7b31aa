"""Parse and chunk one document in a separate process.

Parsing is CPU-bound pure Python (pypdf reads text one character at a time), so in a
thread it would hold the GIL: a 2,000-page PDF would stall the app's event loop (every
open page's websocket) for seconds, and two documents could never use two cores. A
small process pool runs ``extract_chunks`` instead; a parser that blows up on a hostile
file (memory, recursion) takes down a pool process, not the app.

This module imports only the parsing code, so pool processes start quickly (``spawn``:
forking a process that runs threads and an event loop is unsafe).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.util
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from galaxyco_ui.knowledge.chunking import chunk_document
from galaxyco_ui.knowledge.parsing import parse_document
from galaxyco_ui.knowledge.types import Chunk, DocumentKind


@dataclass(frozen=True, slots=True)
class Extracted:
    """What ingestion needs from a document: its chunks and a few counts."""

    chunks: list[Chunk]
    page_count: int | None
    char_count: int


def extract_chunks(
    path: Path, kind: DocumentKind, *, max_pages: int, max_chars: int, target_tokens: int, overlap: float
) -> Extracted:
    """Parse ``path`` and cut it into chunks (runs in a pool process).

    Raises:
        DocumentError: the file cannot be used; the message is shown on the item.
    """
    doc = parse_document(path, kind, max_pages=max_pages, max_chars=max_chars)
    chunks = chunk_document(doc, target_tokens=target_tokens, overlap=overlap)
    return Extracted(
        chunks=chunks, page_count=doc.page_count, char_count=sum(len(s.text) for s in doc.sections)
    )


_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def get_pool(size: int) -> ProcessPoolExecutor:
    """The process-wide extraction pool (created on first use, ``size`` processes)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                max_workers=max(1, size),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                # The owner's pid, not os.getppid() in the child: the owner may already be
                # gone by the time a slow-starting child asks.
                initargs=(os.getpid(),),
            )
            _pool_size = size
            # Stop the pool when this process ends. atexit alone is not enough: a server
            # worker forked by multiprocessing (granian) ends through multiprocessing's
            # exit hook, which runs these finalizers and then joins every child process;
            # idle pool processes would be waited on forever.
            multiprocessing.util.Finalize(None, _shutdown_at_exit, exitpriority=100)
        return _pool


def _init_worker(owner: int) -> None:
    """Runs first in every extraction process; ``owner`` is the pid of the pool's owner."""
    tune_gc()
    _exit_with_parent(owner)


def _exit_with_parent(parent: int, interval: float = 2.0) -> None:
    """End this process when the process that started it is gone.

    A pool process waits on its task queue forever; if the app or worker that owns the
    pool is killed (SIGKILL, OOM), nothing else would ever stop it.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def tune_gc() -> None:
    """Make the cyclic garbage collector run rarely in an extraction process.

    pypdf allocates millions of small objects per hundred pages and frees almost all of
    them by reference counting; with the default thresholds the collector still walks
    the young generations thousands of times, about a third of the parse time. The
    process does nothing else, and its memory is bounded by one document at a time.
    """
    gc.freeze()  # the imported modules never become garbage: stop scanning them
    gc.set_threshold(100_000, 50, 100)


def _ready() -> bool:
    return True  # importing this module (to find this function) loaded the parsers


async def warm_pool(size: int) -> None:
    """Start the pool's processes now, so the first upload does not wait ~1 s for them."""
    import asyncio

    pool = get_pool(size)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(max(1, size))))


def discard_pool(broken: ProcessPoolExecutor | None = None, *, wait: bool = False) -> None:
    """Forget the pool (after a worker died, or at exit); the next call makes a new one."""
    global _pool
    with _lock:
        if _pool is not None and (broken is None or _pool is broken):
            _pool.shutdown(wait=wait, cancel_futures=True)
            _pool = None


def _shutdown_at_exit() -> None:
    discard_pool(wait=True)  # idle processes get their stop sentinel and exit


def crashed_message() -> str:
    return (
        "Reading this document crashed the parser (it may be malformed or far too complex). "
        "Try re-saving it in another program and upload it again."
    )
