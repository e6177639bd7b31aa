"""Where queued runs wait for an executor.

- ``EmbeddedRunQueue``: asyncio tasks inside this process, at most ``RUN_CONCURRENCY``
  executing at once (the embedded mode: the Reflex backend runs the agents itself).
- ``SaqRunQueue``: a SAQ queue on Redis; ``python -m galaxyco_ui.runs.worker`` processes
  on any number of machines execute the runs.

Both take run ids only: the executor reloads everything and ignores a run that is not
queued any more, so a duplicate enqueue is harmless. Other background jobs (knowledge
ingestion) go through the same queue with ``enqueue_job(name, key=..., **kwargs)``; the
embedded queue runs them with their own, smaller concurrency limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from galaxyco_ui.config import get_settings

log = logging.getLogger("galaxyco.runs")
QUEUE_NAME = "galaxyco-runs"
JOB_TIMEOUT_SECONDS = 30 * 60  # a background job (ingesting a large document) gives up after this


class RunQueue(Protocol):
    async def enqueue(self, run_id: str) -> None: ...

    async def enqueue_job(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None: ...

    async def abort(self, run_id: str) -> None: ...


def _embedded_jobs() -> dict[str, Callable[..., Awaitable[object]]]:
    """The jobs ``enqueue_job`` accepts, by name (the worker registers the same names)."""
    from galaxyco_ui.knowledge.ingest import INGEST_JOB, OPTIMIZE_JOB, ingest_item, optimize_workspace

    return {INGEST_JOB: ingest_item, OPTIMIZE_JOB: optimize_workspace}


class EmbeddedRunQueue:
    def __init__(self, concurrency: int, job_concurrency: int = 2) -> None:
        self._concurrency = concurrency
        self._job_concurrency = job_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._job_semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[str] = set()  # keys of jobs not started yet

    async def enqueue(self, run_id: str) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._concurrency)
        task = asyncio.create_task(self._execute(run_id), name=f"run-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run_id: str) -> None:
        from galaxyco_ui.runs.executor import execute_run

        assert self._semaphore is not None
        async with self._semaphore:
            try:
                await execute_run(run_id)
            except Exception:
                log.exception("executor crashed", extra={"run_id": run_id})

    async def enqueue_job(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None:
        """Run ``name(**kwargs)`` after ``delay`` seconds; a key still waiting is not queued twice."""
        if key in self._waiting:
            return
        function = _embedded_jobs()[name]
        if self._job_semaphore is None:
            self._job_semaphore = asyncio.Semaphore(self._job_concurrency)
        self._waiting.add(key)
        task = asyncio.create_task(self._run_job(name, key, delay, function, kwargs), name=key)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(
        self,
        name: str,
        key: str,
        delay: float,
        function: Callable[..., Awaitable[object]],
        kwargs: dict[str, Any],
    ) -> None:
        assert self._job_semaphore is not None
        try:
            if delay:
                await asyncio.sleep(delay)
            async with self._job_semaphore:
                self._waiting.discard(key)
                await function(**kwargs)
        except Exception:
            log.exception("background job crashed", extra={"job": name, "key": key})
        finally:
            self._waiting.discard(key)

    async def abort(self, run_id: str) -> None:
        return None  # the executor polls the cancel signal

    async def drain(self) -> None:
        """Wait for every started run (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class SaqRunQueue:
    def __init__(self, redis_url: str) -> None:
        from saq import Queue

        self.queue = Queue.from_url(redis_url, name=QUEUE_NAME)

    async def enqueue(self, run_id: str) -> None:
        settings = get_settings()
        await self.queue.enqueue(
            "execute_run_job",
            run_id=run_id,
            key=run_id,
            timeout=settings.run_timeout_seconds + 60,
            heartbeat=settings.worker_lost_after_seconds,
            retries=1,  # never re-executes a started run: the executor skips non-queued runs
        )

    async def enqueue_job(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None:
        # SAQ ignores a key that is already queued or running: callers pass a fresh key
        # when a second run of the same work must not be swallowed.
        scheduled = int(time.time() + delay) if delay else 0
        await self.queue.enqueue(
            name, key=key, timeout=JOB_TIMEOUT_SECONDS, retries=2, scheduled=scheduled, **kwargs
        )

    async def close(self) -> None:
        await self.queue.disconnect()

    async def abort(self, run_id: str) -> None:
        job = await self.queue.job(run_id)
        if job is not None:
            await self.queue.abort(job, "cancelled")


_queues: dict[object, RunQueue] = {}


def get_run_queue() -> RunQueue:
    """The queue for the configured mode (one per event loop: clients are loop-bound)."""
    loop = asyncio.get_running_loop()
    if loop not in _queues:
        settings = get_settings()
        _queues[loop] = (
            SaqRunQueue(settings.redis_url)
            if settings.redis_url
            else EmbeddedRunQueue(settings.run_concurrency, settings.knowledge_ingest_concurrency)
        )
    return _queues[loop]


async def close_run_queue() -> None:
    """Close this loop's queue connection (shutdown and tests)."""
    queue = _queues.pop(asyncio.get_running_loop(), None)
    if isinstance(queue, SaqRunQueue):
        await queue.close()
    elif isinstance(queue, EmbeddedRunQueue):
        await queue.drain()


def reset_run_queue() -> None:
    _queues.clear()
