"""Where enqueued jobs wait for whatever executes them.

- ``EmbeddedJobQueue``: asyncio tasks inside this process (the embedded mode: the
  Reflex backend runs the agents and the ingestion itself). Each job counts against its
  pool's limit: ``RUN_CONCURRENCY`` agent runs and ``KNOWLEDGE_INGEST_CONCURRENCY``
  other jobs at once.
- ``SaqJobQueue``: a SAQ queue on Redis; ``python -m galaxyco_ui.runs.worker`` processes
  on any number of machines execute the jobs (``saq_functions`` is their function list).

Both take a job name from the registry (``jobs.registry``) and small keyword arguments
(ids): the job reloads everything and ignores work that is not pending any more, so a
duplicate enqueue is harmless. A key identifies the job: one still waiting under the
same key is not queued twice (SAQ also keeps a running key), and ``abort(key)`` stops a
SAQ job (the embedded queue has nothing to abort: runs poll their cancel signal).

``seconds_since_worker_seen()`` says how long ago a worker last said it was alive (SAQ
workers record themselves in ``WORKERS_KEY``, ``jobs.worker``); the embedded queue's
worker is this process, always there. While it runs, a SAQ job is touched every third
of its ``heartbeat`` option, so SAQ's sweep takes it for lost only once its worker is.

``backlog()`` says how many jobs wait to start and how long the oldest has waited: the
readiness check (``/api/health/ready``) compares that lag with its threshold. A job
enqueued with a delay waits from the moment its delay ends. The embedded queue measures
this process's jobs; SAQ's is the shared queue, read in two Redis round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from galaxyco_ui.config import get_settings
from galaxyco_ui.jobs.registry import BACKGROUND_POOL, RUNS_POOL, JobFunction, get_job, registered_jobs

log = logging.getLogger("galaxyco.jobs")
QUEUE_NAME = "galaxyco-runs"  # the Redis name predates the other jobs; renaming it would strand queued work
WORKERS_KEY = "galaxyco:workers"  # sorted set: SAQ worker id → when it last said it was alive (epoch s)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Jobs that could start but have not.

    Attributes:
        depth: how many wait (delayed jobs whose delay has not ended are not counted).
        lag_seconds: how long the oldest of them has waited; 0 when none waits.
    """

    depth: int
    lag_seconds: float


class JobQueue(Protocol):
    async def enqueue(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None: ...

    async def abort(self, key: str) -> None: ...

    async def backlog(self) -> Backlog: ...

    async def seconds_since_worker_seen(self) -> float | None: ...


class EmbeddedJobQueue:
    """Jobs as asyncio tasks of this process, at most ``limits[pool]`` of a pool at once."""

    def __init__(self, limits: dict[str, int]) -> None:
        self._limits = limits
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[str, float] = {}  # key of a job not started yet → when its delay ends (monotonic)

    async def enqueue(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None:
        """Run job ``name(**kwargs)`` after ``delay`` seconds; a key still waiting is not queued twice."""
        if key in self._waiting:
            return
        pool = get_job(name).pool
        if pool not in self._semaphores:
            self._semaphores[pool] = asyncio.Semaphore(self._limits[pool])
        self._waiting[key] = time.monotonic() + delay
        task = asyncio.create_task(self._run(name, key, delay, self._semaphores[pool], kwargs), name=key)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, name: str, key: str, delay: float, semaphore: asyncio.Semaphore, kwargs: dict[str, Any]
    ) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            async with semaphore:
                self._waiting.pop(key, None)
                # Looked up when it starts, so a benchmark's timing wrapper is seen.
                await get_job(name).function(**kwargs)
        except Exception:
            log.exception("background job crashed", extra={"job": name, "key": key})
        finally:
            self._waiting.pop(key, None)

    async def abort(self, key: str) -> None:
        return None  # runs poll their cancel signal; other jobs are short and idempotent

    async def backlog(self) -> Backlog:
        """This process's jobs whose delay has ended and that wait for a free slot of their pool."""
        now = time.monotonic()
        due = [since for since in self._waiting.values() if since <= now]
        return Backlog(depth=len(due), lag_seconds=now - min(due) if due else 0.0)

    async def seconds_since_worker_seen(self) -> float | None:
        """0: this process runs the jobs itself."""
        return 0.0

    async def drain(self) -> None:
        """Wait for every started job (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class SaqJobQueue:
    def __init__(self, redis_url: str) -> None:
        from saq.queue.redis import RedisQueue

        self.queue = RedisQueue.from_url(redis_url, name=QUEUE_NAME)

    async def enqueue(self, name: str, *, key: str, delay: float = 0, **kwargs: Any) -> None:
        # SAQ ignores a key that is already queued or running: callers pass a fresh key
        # when a second run of the same work must not be swallowed.
        options = get_job(name).options()
        if delay:
            options["scheduled"] = int(time.time() + delay)
        await self.queue.enqueue(name, key=key, **options, **kwargs)

    async def abort(self, key: str) -> None:
        job = await self.queue.job(key)
        if job is not None:
            await self.queue.abort(job, "cancelled")

    async def backlog(self) -> Backlog:
        """The SAQ queue's waiting list: its length, and the age of its head (the next job out).

        SAQ appends due jobs to the list's tail and workers take them from its head; a job
        waits from when it was enqueued, its scheduled time came, or it was put back for a
        retry, whichever is latest.
        """
        redis, waiting = self.queue.redis, self.queue.namespace("queued")
        async with redis.pipeline(transaction=False) as pipe:
            pipe.llen(waiting)
            pipe.lindex(waiting, 0)
            depth, head = await pipe.execute()
        if not head:
            return Backlog(depth=0, lag_seconds=0.0)
        job = self.queue.deserialize(await redis.get(head))
        if job is None:  # taken and finished between the two calls
            return Backlog(depth=int(depth), lag_seconds=0.0)
        since = max(job.queued / 1000, job.touched / 1000, float(job.scheduled))
        return Backlog(depth=int(depth), lag_seconds=max(0.0, time.time() - since))

    async def seconds_since_worker_seen(self) -> float | None:
        """How long ago the most recently seen worker said it was alive; None if none ever did."""
        newest = await self.queue.redis.zrevrange(WORKERS_KEY, 0, 0, withscores=True)
        if not newest:
            return None
        return max(0.0, time.time() - float(newest[0][1]))

    async def close(self) -> None:
        await self.queue.disconnect()


def _saq_adapter(name: str) -> JobFunction:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> object:
        toucher = asyncio.create_task(_touch_while_running(ctx.get("job")))
        try:
            return await get_job(name).function(**kwargs)
        finally:
            toucher.cancel()  # and wait, so no touch lands after SAQ records the outcome
            with contextlib.suppress(asyncio.CancelledError):
                await toucher

    run.__qualname__ = run.__name__ = name
    return run


async def _touch_while_running(job: Any) -> None:
    """Touch a running SAQ job every third of its heartbeat: SAQ's sweep aborts a job whose
    heartbeat lapses, which without this would be any job running longer than it."""
    heartbeat = getattr(job, "heartbeat", 0)
    if not heartbeat:
        return
    while True:
        await asyncio.sleep(heartbeat / 3)
        try:
            await job.update()  # keeps the stored status (an abort stays an abort)
        except Exception:  # Redis away for a moment: the next touch tries again
            log.warning("could not touch a running job", extra={"job": job.key}, exc_info=True)


def saq_functions() -> list[tuple[str, JobFunction]]:
    """The SAQ worker's function list: every registered job, under its name."""
    return [(spec.name, _saq_adapter(spec.name)) for spec in registered_jobs()]


_queues: dict[object, JobQueue] = {}


def get_job_queue() -> JobQueue:
    """The queue for the configured mode (one per event loop: clients are loop-bound)."""
    loop = asyncio.get_running_loop()
    if loop not in _queues:
        settings = get_settings()
        _queues[loop] = (
            SaqJobQueue(settings.redis_url)
            if settings.redis_url
            else EmbeddedJobQueue(
                {RUNS_POOL: settings.run_concurrency, BACKGROUND_POOL: settings.knowledge_ingest_concurrency}
            )
        )
    return _queues[loop]


async def close_job_queue() -> None:
    """Close this loop's queue connection, or wait for its tasks (shutdown and tests)."""
    queue = _queues.pop(asyncio.get_running_loop(), None)
    if isinstance(queue, SaqJobQueue):
        await queue.close()
    elif isinstance(queue, EmbeddedJobQueue):
        await queue.drain()


def reset_job_queue() -> None:
    _queues.clear()
