"""Parse and chunk one document in a separate process.

Parsing is CPU-bound (PDFium's text layout, pypdf and the other parsers in pure Python,
chunking), so in a thread it would hold the GIL: a 2,000-page PDF would stall the app's
event loop (every open page's websocket) for seconds, and two documents could never use
two cores. A small process pool runs ``extract_chunks`` instead; a parser that blows up on
a hostile file (memory, recursion, a crash inside PDFium's C++) takes down a pool
process, not the app, and one that hangs is killed at the wall-clock limit
(``ExtractionPool.run``). Either way only that document fails, and its process is
replaced for the next one. PDFium is loaded by these processes only.

This module imports only the parsing code, so pool processes start quickly (``spawn``:
forking a process that runs threads and an event loop is unsafe).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.util
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from galaxyco_ui.knowledge.chunking import chunk_document
from galaxyco_ui.knowledge.parsers import pdf
from galaxyco_ui.knowledge.parsing import parse_document
from galaxyco_ui.knowledge.types import Chunk, DocumentKind

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What ingestion needs from a document: its chunks, a few counts, and when it was
    chunked (wall-clock nanoseconds in the pool process, for the ``ingest.chunk`` span)."""

    chunks: list[Chunk]
    page_count: int | None
    char_count: int
    chunk_started_ns: int = 0
    chunk_ended_ns: int = 0


def extract_chunks(
    path: Path, kind: DocumentKind, *, max_pages: int, max_chars: int, target_tokens: int, overlap: float
) -> Extracted:
    """Parse ``path`` and cut it into chunks (runs in a pool process).

    Raises:
        DocumentError: the file cannot be used; the message is shown on the item.
    """
    doc = parse_document(path, kind, max_pages=max_pages, max_chars=max_chars)
    chunk_started_ns = time.time_ns()
    chunks = chunk_document(doc, target_tokens=target_tokens, overlap=overlap)
    return Extracted(
        chunks=chunks,
        page_count=doc.page_count,
        char_count=sum(len(s.text) for s in doc.sections),
        chunk_started_ns=chunk_started_ns,
        chunk_ended_ns=time.time_ns(),
    )


class ExtractionTimeout(Exception):
    """A document was still being read at the wall-clock limit; its process was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"extraction took longer than {seconds:g} s")
        self.seconds = seconds


class ExtractionPool:
    """``size`` single-process executors ("slots"); a document has a slot to itself.

    One process per document is what makes a wall-clock limit enforceable: a
    ``ProcessPoolExecutor`` cannot stop a call that is running, and a process killed
    inside a shared executor breaks the whole executor, failing every other document in
    it. Here a slot whose document overran (or crashed, or whose caller was cancelled) is
    killed and dropped, and the next document gets a fresh one; the others never notice.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._idle: list[ProcessPoolExecutor] = []
        self._slots: set[ProcessPoolExecutor] = set()  # idle and busy
        self._closed = False

    async def run(
        self,
        fn: Callable[[], T],
        *,
        limit_seconds: float,
        heartbeat: Callable[[], Awaitable[object]] | None = None,
        heartbeat_seconds: float = 30.0,
    ) -> T:
        """Run ``fn()`` in a slot of its own, waiting for a free one first.

        Args:
            fn: a picklable callable (a module-level function or a ``partial`` of one).
            limit_seconds: wall-clock seconds the call may run, counted once it has a
                slot with a started process.
            heartbeat: awaited every ``heartbeat_seconds`` while waiting for a slot or
                for the call, so the caller can show it is alive (maintenance re-queues
                items whose progress stopped).

        Raises:
            ExtractionTimeout: the call overran; its process was killed and replaced.
            BrokenProcessPool: the process died during the call (a crash; replaced too).
            Exception: whatever ``fn`` raised.
        """
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + heartbeat_seconds

        async def beat_if_due() -> None:
            nonlocal next_beat
            if heartbeat is not None and loop.time() >= next_beat:
                next_beat = loop.time() + heartbeat_seconds
                await heartbeat()

        while (checked_out := self._checkout()) is None:
            await asyncio.sleep(_SLOT_POLL_SECONDS)
            await beat_if_due()
        slot, fresh = checked_out
        healthy = False
        future: asyncio.Future[T] | None = None
        try:
            if fresh:  # start its process (about a second) before the document's clock runs
                await asyncio.wrap_future(slot.submit(_ready))
            future = asyncio.wrap_future(slot.submit(fn))
            deadline = loop.time() + limit_seconds
            while not future.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ExtractionTimeout(limit_seconds)
                wait = min(remaining, max(next_beat - loop.time(), 0.0)) if heartbeat else remaining
                await asyncio.wait({future}, timeout=wait)
                await beat_if_due()
            error = future.exception()
            healthy = not isinstance(error, BrokenProcessPool)
            if error is not None:
                raise error
            return future.result()
        finally:
            if future is not None and not future.done():
                future.cancel()  # its process is killed next: nobody will read this future
            self._checkin(slot, healthy=healthy)

    async def warm(self) -> None:
        """Start every slot's process now, so the first document does not wait ~1 s."""
        with self._lock:
            while len(self._slots) < self.size and not self._closed:
                slot = _new_slot()
                self._slots.add(slot)
                self._idle.append(slot)
            idle = list(self._idle)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(slot, _ready) for slot in idle))

    def pids(self) -> list[int]:
        """The process ids of the slots started so far."""
        with self._lock:
            return [p.pid for slot in self._slots for p in _processes(slot) if p.pid is not None]

    def close(self, *, wait: bool = False, kill: bool = False) -> None:
        """Stop every slot: idle ones end cleanly, busy ones are killed when they return.

        ``kill`` kills every slot's process now, busy or idle: for a process on its way
        out, whose exit would otherwise wait for processes still starting (seconds each).
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            for slot in idle:
                self._slots.discard(slot)
            busy = list(self._slots) if kill else []
        for slot in idle:
            if kill:
                _kill(slot)
            else:
                slot.shutdown(wait=wait, cancel_futures=True)
        for slot in busy:
            _kill(slot)

    def _checkout(self) -> tuple[ProcessPoolExecutor, bool] | None:
        """An idle slot, or a new one (``True``: its process is not started yet), or None."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), False
            if len(self._slots) < self.size:
                slot = _new_slot()
                self._slots.add(slot)
                return slot, True
            return None

    def _checkin(self, slot: ProcessPoolExecutor, *, healthy: bool) -> None:
        with self._lock:
            keep = healthy and not self._closed
            if keep:
                self._idle.append(slot)
            else:
                self._slots.discard(slot)
        if not keep:
            _kill(slot)


def _new_slot() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        # The owner's pid, not os.getppid() in the child: the owner may already be gone
        # by the time a slow-starting child asks.
        initargs=(os.getpid(),),
    )


def _processes(slot: ProcessPoolExecutor) -> list[multiprocessing.Process]:
    # The executor's own process table: the only handle on a process stuck in a call.
    return list((getattr(slot, "_processes", None) or {}).values())


def _kill(slot: ProcessPoolExecutor) -> None:
    """Stop a slot whatever its process is doing (a hung parser never returns)."""
    processes = _processes(slot)
    slot.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()


_SLOT_POLL_SECONDS = 0.05
_lock = threading.Lock()
_pool: ExtractionPool | None = None


def get_pool(size: int) -> ExtractionPool:
    """The process-wide extraction pool (``size`` slots, started on first use)."""
    global _pool
    with _lock:
        if _pool is None or _pool.size != max(1, size):
            if _pool is not None:
                _pool.close()
            first = _pool is None
            _pool = ExtractionPool(size)
            if first:
                # Stop the pool when this process ends. atexit alone is not enough: a
                # server worker forked by multiprocessing (granian) ends through
                # multiprocessing's exit hook, which runs these finalizers and then joins
                # every child process; idle pool processes would be waited on forever.
                multiprocessing.util.Finalize(None, _shutdown_at_exit, exitpriority=100)
        return _pool


def _init_worker(owner: int) -> None:
    """Runs first in every extraction process; ``owner`` is the pid of the pool's owner."""
    pdf.preload()  # before the collector is frozen: PDFium's modules are never garbage
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
    await get_pool(size).warm()


def discard_pool(*, wait: bool = False, kill: bool = False) -> None:
    """Stop and forget the pool (at exit, and in tests); the next call makes a new one.

    ``kill``: kill its processes at once (``ExtractionPool.close``).
    """
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close(wait=wait, kill=kill)
            _pool = None


def _shutdown_at_exit() -> None:
    discard_pool(wait=True)  # idle processes get their stop sentinel and exit


def crashed_message() -> str:
    return (
        "Reading this document crashed the parser (it may be malformed or far too complex). "
        "Try re-saving it in another program and upload it again."
    )
