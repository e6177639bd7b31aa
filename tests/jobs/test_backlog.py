"""``JobQueue.backlog()``: how many jobs wait to start and how long the oldest has waited,
in the embedded queue and on a real SAQ queue (with TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from galaxyco_ui.jobs import BACKGROUND_POOL, RUNS_POOL, job
from galaxyco_ui.jobs.queue import Backlog, EmbeddedJobQueue, SaqJobQueue

BLOCKING_JOB = "test_backlog_blocking_job"
_gate: dict[str, asyncio.Event] = {}  # the running test's event (an Event is bound to one loop)


@job(BLOCKING_JOB, pool=BACKGROUND_POOL)
async def _blocking_job(**_: object) -> None:
    await _gate["release"].wait()


async def test_an_idle_embedded_queue_has_no_backlog() -> None:
    queue = EmbeddedJobQueue({RUNS_POOL: 1, BACKGROUND_POOL: 1})
    assert await queue.backlog() == Backlog(depth=0, lag_seconds=0.0)


async def test_the_embedded_backlog_counts_jobs_waiting_for_a_slot_from_when_they_were_enqueued() -> None:
    release = _gate["release"] = asyncio.Event()
    queue = EmbeddedJobQueue({RUNS_POOL: 1, BACKGROUND_POOL: 1})
    await queue.enqueue(BLOCKING_JOB, key="running")  # takes the pool's one slot
    await queue.enqueue(BLOCKING_JOB, key="waiting")
    await queue.enqueue(BLOCKING_JOB, key="delayed", delay=3600)  # not due: not lagging
    started = time.monotonic()
    await asyncio.sleep(0.2)

    backlog = await queue.backlog()

    assert backlog.depth == 1
    assert 0.2 <= backlog.lag_seconds <= time.monotonic() - started + 0.05
    release.set()
    await asyncio.sleep(0.05)
    assert await queue.backlog() == Backlog(depth=0, lag_seconds=0.0)
    for task in list(queue._tasks):  # the delayed job would sleep for an hour
        task.cancel()
    await queue.drain()


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="SAQ needs TEST_REDIS_URL")
async def test_the_saq_backlog_is_the_waiting_list_and_the_age_of_its_head() -> None:
    queue = SaqJobQueue(os.environ["TEST_REDIS_URL"])  # no worker: jobs stay queued
    try:
        assert await queue.backlog() == Backlog(depth=0, lag_seconds=0.0)
        before = time.time()
        await queue.enqueue(BLOCKING_JOB, key="first")
        await asyncio.sleep(0.2)
        await queue.enqueue(BLOCKING_JOB, key="second")
        await queue.enqueue(BLOCKING_JOB, key="later", delay=3600)  # scheduled, not waiting yet

        backlog = await queue.backlog()

        assert backlog.depth == 2
        assert 0.2 <= backlog.lag_seconds <= time.time() - before + 0.05  # the first one's wait
        await queue.abort("first")
        await queue.abort("second")
        assert (await queue.backlog()).depth == 0
    finally:
        await queue.close()
