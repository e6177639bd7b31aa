"""The SAQ worker of the scale-out mode: takes jobs, says it is alive, and drains on SIGTERM.

``JobWorker`` is SAQ's ``Worker`` with four additions:

- **Presence.** Every ``PRESENCE_SECONDS`` it records itself in the Redis sorted set
  ``WORKERS_KEY`` (worker id → when it was last seen), which the app reads to tell that
  no worker has been taking jobs for a while (``SaqJobQueue.seconds_since_worker_seen``).
- **Drain** (``drain``, called by the entry point on SIGTERM/SIGINT): it stops taking
  jobs at once, lets the jobs it is running finish for up to ``grace`` seconds, then
  cancels the ones still running and stops. A job a dequeue hands it after the drain
  began is put straight back in the queue, unstarted, for another worker (its function
  never ran, so nothing runs twice). Idle dequeues time out every ``DEQUEUE_TIMEOUT``
  seconds, so nothing waits on a blocked Redis call to stop.
- **A sweep that aborts only lost jobs** (``DrainableQueue.sweep``): SAQ's aborted jobs a
  worker had just taken and not yet marked active, and jobs it had read seconds earlier,
  so healthy runs ended "shut down" on a busy box.
- ``start`` installs no signal handlers (SAQ's stops at once on SIGTERM, cancelling
  running jobs after its grace, and waits on blocked dequeues): the entry point owns
  them and calls ``drain``.

What a cancelled job does is the job's business: the run executor fails its run with a
"shut down" message rather than starting it again (``runs.executor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from saq import Worker
from saq.job import TERMINAL_STATUSES, Job, Status
from saq.queue.redis import RedisQueue
from saq.types import Context

from galaxyco_ui.jobs.queue import QUEUE_NAME, WORKERS_KEY, saq_functions

log = logging.getLogger("galaxyco.jobs.worker")

PRESENCE_SECONDS = 5.0  # how often a worker records that it is alive
PRESENCE_KEPT_SECONDS = 24 * 3600  # entries of workers gone longer than this are dropped
DEQUEUE_TIMEOUT = 1.0  # an idle dequeue returns this often, so a drain never waits on it
CANCEL_DEADLINE_SECONDS = 5.0  # after the grace: how long a cancelled job may take to record it
# A job taken from the queue but still not marked active this long after: its worker died in between.
UNSTARTED_SWEPT_AFTER_SECONDS = 30.0
SIGHTINGS_KEPT_SECONDS = 3600  # the sweep's notes on unstarted jobs, if no later sweep replaces them


class DrainableQueue(RedisQueue):
    """A Redis queue whose dequeue hands a job straight back once its worker drains, and
    whose sweep aborts only jobs that are really lost (``sweep``)."""

    draining = False
    _sweep_ids_script: Any = None

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:  # noqa: ASYNC109  (SAQ's signature)
        job = await super().dequeue(timeout, poll_interval)
        if job is not None and self.draining:
            # Taken from the list in the instant the drain began: not started, so back it goes.
            await self.retry(job, "handed back: the worker was shutting down")
            log.info("job handed back", extra={"job": job.key})
            return None
        return job

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        """SAQ's sweep (saq 0.26's ``RedisQueue.sweep``) without its false "lost" verdicts.

        SAQ aborts every job of the active list whose stored status is not ``active``, or
        that is stuck (its heartbeat or timeout lapsed), as read in one snapshot of that
        list. Two kinds of healthy jobs met that test under load (the P2 bench: 7 of 500
        runs failed "shut down" or, aborted while being claimed, "worker lost"):

        - a job a worker has just taken: the dequeue moves it to the active list, and the
          worker marks it active one Redis round trip later, which on a busy box with 32
          jobs taken at once can be a second or more;
        - any job of the snapshot, read seconds earlier: each job the sweep aborts makes
          it wait up to ``abort`` seconds, and the snapshot ages meanwhile.

        So each job is read again just before its verdict, and one still not marked active
        is taken for lost (its worker died between the two steps) only when an earlier
        sweep saw it in the same state ``UNSTARTED_SWEPT_AFTER_SECONDS`` before (the
        sightings are kept in Redis: any worker may sweep next). Sweeping itself is SAQ's:
        abort, wait up to ``abort`` seconds, then retry it if it has retries left (a run's
        job then finds its run not queued and does nothing) or finish it as aborted.
        Returns the swept job ids.
        """
        if self._sweep_ids_script is None:
            self._sweep_ids_script = self.redis.register_script(_SWEEP_IDS)
        job_ids: list[bytes] = await self._sweep_ids_script(
            keys=[self._sweep, self._active], args=[lock], client=self.redis
        )
        if not job_ids:
            return []
        sightings_key = self.namespace("unstarted")
        earlier: dict[str, list[Any]] = json.loads(await self.redis.get(sightings_key) or "{}")
        sightings: dict[str, list[Any]] = {}
        swept = []
        for raw_id in job_ids:
            job_id = raw_id.decode()
            job = self.deserialize(await self.redis.get(raw_id))
            if job is None:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                log.info("sweeping a missing job", extra={"job": job_id})
                swept.append(job_id)
                continue
            if job.status in TERMINAL_STATUSES:  # finished since the list was read
                continue
            if job.status == Status.QUEUED:  # taken from the queue, not (yet) marked active
                seen = [job.queued, job.touched, job.attempts, time.time()]
                previous = earlier.get(job_id)
                if previous is not None and previous[:3] == seen[:3]:
                    seen[3] = previous[3]
                if time.time() - seen[3] < UNSTARTED_SWEPT_AFTER_SECONDS:
                    sightings[job_id] = seen
                    continue
            elif job.status == Status.ACTIVE and not job.stuck:
                continue
            log.info("sweeping a lost job", extra={"job": job.key, "status": job.status.value})
            swept.append(job_id)
            await self.abort(job, error=self.swept_error_message)
            try:
                await job.refresh(abort)
            except TimeoutError:
                log.info("swept job did not end in time", extra={"job": job.key})
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        await self.redis.set(sightings_key, json.dumps(sightings), ex=SIGHTINGS_KEPT_SECONDS)
        return swept


# The active list, by one sweeper at a time: the first caller in ``lock`` seconds gets it.
_SWEEP_IDS = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    return redis.call('LRANGE', KEYS[2], 0, -1)
end
return {}
"""


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
