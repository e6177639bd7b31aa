"""The SAQ worker of the scale-out mode: takes jobs, says it is alive, and drains on SIGTERM.

``JobWorker`` is SAQ's ``Worker`` with three additions:

- **Presence.** Every ``PRESENCE_SECONDS`` it records itself in the Redis sorted set
  ``WORKERS_KEY`` (worker id → when it was last seen), which the app reads to tell that
  no worker has been taking jobs for a while (``SaqJobQueue.seconds_since_worker_seen``).
- **Drain** (``drain``, called by the entry point on SIGTERM/SIGINT): it stops taking
  jobs at once, lets the jobs it is running finish for up to ``grace`` seconds, then
  cancels the ones still running and stops. A job a dequeue hands it after the drain
  began is put straight back in the queue, unstarted, for another worker (its function
  never ran, so nothing runs twice). Idle dequeues time out every ``DEQUEUE_TIMEOUT``
  seconds, so nothing waits on a blocked Redis call to stop.
- ``start`` installs no signal handlers (SAQ's stops at once on SIGTERM, cancelling
  running jobs after its grace, and waits on blocked dequeues): the entry point owns
  them and calls ``drain``.

What a cancelled job does is the job's business: the run executor fails its run with a
"shut down" message rather than starting it again (``runs.executor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from saq import Worker
from saq.job import Job
from saq.queue.redis import RedisQueue
from saq.types import Context

from galaxyco_ui.jobs.queue import QUEUE_NAME, WORKERS_KEY, saq_functions

log = logging.getLogger("galaxyco.jobs.worker")

PRESENCE_SECONDS = 5.0  # how often a worker records that it is alive
PRESENCE_KEPT_SECONDS = 24 * 3600  # entries of workers gone longer than this are dropped
DEQUEUE_TIMEOUT = 1.0  # an idle dequeue returns this often, so a drain never waits on it
CANCEL_DEADLINE_SECONDS = 5.0  # after the grace: how long a cancelled job may take to record it


class DrainableQueue(RedisQueue):
    """A Redis queue whose dequeue hands a job straight back once its worker drains."""

    draining = False

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:  # noqa: ASYNC109  (SAQ's signature)
        job = await super().dequeue(timeout, poll_interval)
        if job is not None and self.draining:
            # Taken from the list in the instant the drain began: not started, so back it goes.
            await self.retry(job, "handed back: the worker was shutting down")
            log.info("job handed back", extra={"job": job.key})
            return None
        return job


class JobWorker(Worker[Context]):
    queue: DrainableQueue

    def __init__(
        self, queue: DrainableQueue, *, concurrency: int, sweep_seconds: int = 5, stop_grace_seconds: int = 0
    ) -> None:
        super().__init__(
            queue,
            functions=saq_functions(),  # every registered job, by its registered name
            concurrency=concurrency,
            # SAQ's own sweep finds jobs whose worker stopped heartbeating. (saq 0.26's
            # PartialTimersDict inherits required keys, so a partial dict cannot type-check.)
            timers={"sweep": sweep_seconds},  # type: ignore[arg-type]  # see the comment above
            dequeue_timeout=DEQUEUE_TIMEOUT,
            shutdown_grace_period_s=stop_grace_seconds,  # for a plain ``stop()`` (tests); ``drain`` sets its own
            cancellation_hard_deadline_s=CANCEL_DEADLINE_SECONDS,
        )
        self.worker_id = str(self.id)
        self._drained = asyncio.Event()

    @classmethod
    def from_url(cls, redis_url: str, *, concurrency: int, stop_grace_seconds: int = 0) -> JobWorker:
        queue = DrainableQueue.from_url(redis_url, name=QUEUE_NAME)
        assert isinstance(queue, DrainableQueue)  # SAQ's from_url is typed as returning its base class
        return cls(queue, concurrency=concurrency, stop_grace_seconds=stop_grace_seconds)

    async def start(self) -> None:
        """Take jobs until ``drain`` (or ``stop``) has finished, or until cancelled.

        Unlike SAQ's own ``start``, setting ``event`` does not stop the worker at once:
        ``drain`` sets it first to stop taking jobs, then decides when to stop.
        """
        self.event, self._drained = asyncio.Event(), asyncio.Event()
        async with self._stop_lock:
            self._stopped = False
        try:
            self.tasks.update(await self.upkeep())
            for _ in range(self.concurrency):
                self._process()
            await self._drained.wait()
        finally:
            await self.stop()  # nothing left to do after a drain

    async def stop(self) -> None:
        await super().stop()
        self._drained.set()

    @property
    def running_jobs(self) -> int:
        return len(self.job_task_contexts)

    async def upkeep(self) -> list[asyncio.Task[None]]:
        return [*await super().upkeep(), asyncio.create_task(self._presence(), name="presence")]

    async def _presence(self) -> None:
        while not self.event.is_set():
            try:
                await record_presence(self.queue, self.worker_id)
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("could not record worker presence", exc_info=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.event.wait(), PRESENCE_SECONDS)

    async def drain(self, grace: float) -> None:
        """Stop taking jobs, give running ones ``grace`` seconds, cancel the rest, stop.

        Returns once every task of the worker has ended; the queue stays connected
        (``queue.disconnect()`` is the caller's).
        """
        self.queue.draining = True
        self.event.set()  # SAQ starts no new dequeue; its upkeep loops end at their next turn
        began = time.monotonic()
        log.info("worker draining", extra={"running": self.running_jobs, "grace_seconds": grace})
        while self.running_jobs and time.monotonic() - began < grace:  # noqa: ASYNC110  (SAQ signals no job's end)
            await asyncio.sleep(0.1)
        if self.running_jobs:
            log.warning(
                "jobs still running after the grace period: cancelling them",
                extra={"running": self.running_jobs},
            )
            # Cancelled here, each job records its ending (a run: "shut down") while the
            # worker waits (SAQ's own stop would give them its 1 s hard deadline), then
            # goes back in the queue, as SAQ's stop does: a run's executor skips a run that
            # is not queued any more; other jobs are idempotent.
            cancelled = list(self.job_task_contexts.items())
            for _job, context in cancelled:
                context["task"].cancel()
            await asyncio.wait(
                [context["task"] for _job, context in cancelled], timeout=CANCEL_DEADLINE_SECONDS
            )
            for job, _context in cancelled:
                try:
                    await self.queue.retry(job, "cancelled: the worker shut down")
                except Exception:
                    log.warning("could not hand a cancelled job back", extra={"job": job.key}, exc_info=True)
        # Upkeep loops sleep between turns (worker info: 10 s); none holds a job, so end them now.
        upkeep = [task for task in self.tasks if task.get_name() != "process"]
        for task in upkeep:
            task.cancel()
        # Idle dequeues return within DEQUEUE_TIMEOUT; a job still running is cancelled after it.
        self._shutdown_grace_period_s = int(DEQUEUE_TIMEOUT) + 1
        await self.stop()
        log.info("worker drained", extra={"seconds": round(time.monotonic() - began, 1)})


async def record_presence(queue: RedisQueue, worker_id: str) -> None:
    """Record that worker ``worker_id`` is alive now; forget workers gone for a day."""
    now = time.time()
    async with queue.redis.pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS_KEY, {worker_id: now})
        pipe.zremrangebyscore(WORKERS_KEY, 0, now - PRESENCE_KEPT_SECONDS)
        await pipe.execute()
