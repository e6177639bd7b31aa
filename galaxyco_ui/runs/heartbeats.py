"""One heartbeat for every run this process executes.

A running run proves its executor is alive by moving ``runs.heartbeat_at`` forward; the
recovery sweep (``services.workers``) fails a run whose heartbeat is older than
``WORKER_LOST_AFTER_SECONDS``. One UPDATE per run every few seconds, queued in the
shared thread pool behind every other database call of 100 busy runs, came late on an
overloaded box (load 19 on 2 cores: 13 of 200 healthy runs failed as "worker lost").
So the executor registers its run here (``beating``), and one task per event loop
updates every registered run in a single statement every ``HEARTBEAT_INTERVAL``
seconds, on a thread of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from galaxyco_ui.runs import store

log = logging.getLogger("galaxyco.runs")
HEARTBEAT_INTERVAL = 5.0

_pool: ThreadPoolExecutor | None = None


class _Beater:
    def __init__(self) -> None:
        self.runs: collections.Counter[str] = collections.Counter()
        self.task: asyncio.Task[None] | None = None

    def add(self, run_id: str) -> None:
        self.runs[run_id] += 1
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._beat(), name="run-heartbeats")

    def discard(self, run_id: str) -> None:
        self.runs[run_id] -= 1
        if self.runs[run_id] <= 0:
            del self.runs[run_id]

    async def _beat(self) -> None:
        global _pool
        loop = asyncio.get_running_loop()
        while self.runs:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            run_ids = list(self.runs)
            if not run_ids:
                break
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-heartbeat")
            try:
                await loop.run_in_executor(_pool, store.heartbeat_runs, run_ids)
            except Exception:  # the database away for a moment: the next beat tries again
                log.warning("run heartbeat failed", extra={"runs": len(run_ids)}, exc_info=True)


_beaters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Beater] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def beating(run_id: str) -> Iterator[None]:
    """Keep ``run_id``'s heartbeat going while the block runs (call it inside an event loop)."""
    loop = asyncio.get_running_loop()
    beater = _beaters.get(loop)
    if beater is None:
        beater = _beaters[loop] = _Beater()
    beater.add(run_id)
    try:
        yield
    finally:
        beater.discard(run_id)
