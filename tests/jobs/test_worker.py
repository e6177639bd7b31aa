"""The SAQ worker (``jobs.worker.JobWorker``) on a real Redis: a job longer than its
heartbeat is not swept while its worker lives, a drain lets running jobs finish and takes
no new one, a job still running after the grace is cancelled and handed back, and
workers record their presence for the app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from saq.job import Status

from galaxyco_ui.jobs import job
from galaxyco_ui.jobs import worker as worker_module
from galaxyco_ui.jobs.queue import QUEUE_NAME, WORKERS_KEY, EmbeddedJobQueue, SaqJobQueue
from galaxyco_ui.jobs.worker import DrainableQueue, JobWorker, record_presence

needs_redis = pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="SAQ needs TEST_REDIS_URL")

SLEEPING_JOB = "test_worker_sleeping_job"
_runs: list[str] = []  # keys of the sleeping jobs that started, in order


def _heartbeat_one_second() -> dict[str, Any]:
    return {"timeout": 60, "heartbeat": 1, "retries": 1}


@job(SLEEPING_JOB, options=_heartbeat_one_second)
async def _sleeping_job(*, tag: str, seconds: float) -> str:
    _runs.append(tag)
    await asyncio.sleep(seconds)
    return tag


@pytest.fixture
async def saq() -> AsyncIterator[tuple[SaqJobQueue, Callable[..., JobWorker]]]:
    """A queue to enqueue on, and ``start_worker()`` → a started in-process worker (stopped after)."""
    _runs.clear()
    queue = SaqJobQueue(os.environ["TEST_REDIS_URL"])
    started: list[tuple[JobWorker, asyncio.Task[None]]] = []

    def start_worker(**kwargs: Any) -> JobWorker:
        worker = JobWorker(
            DrainableQueue.from_url(os.environ["TEST_REDIS_URL"], name=QUEUE_NAME), concurrency=2, **kwargs
        )
        started.append((worker, asyncio.create_task(worker.start())))
        return worker

    yield queue, start_worker
    for worker, task in started:
        await worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.queue.disconnect()
    await queue.close()


async def _status(queue: SaqJobQueue, key: str) -> Status | None:
    found = await queue.queue.job(key)
    return None if found is None else found.status


async def _until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.05)


@needs_redis
async def test_a_job_running_longer_than_its_heartbeat_is_not_swept_while_its_worker_lives(saq) -> None:
    queue, start_worker = saq
    start_worker(sweep_seconds=1)  # SAQ's sweep every second; the job's heartbeat is 1 s
    await queue.enqueue(SLEEPING_JOB, key="long", tag="long", seconds=3.5)

    async def complete() -> bool:
        return await _status(queue, "long") in (Status.COMPLETE, Status.ABORTED, Status.FAILED)

    await _until(complete, 10, "the job did not end")
    assert await _status(queue, "long") == Status.COMPLETE
    assert _runs == ["long"]


async def _take_without_starting(key: str) -> DrainableQueue:
    """What a worker's dequeue does before it marks the job active: move it to the active list."""
    taker = DrainableQueue.from_url(os.environ["TEST_REDIS_URL"], name=QUEUE_NAME)
    assert isinstance(taker, DrainableQueue)
    moved = await taker.redis.lmove(taker._queued, taker._active, "LEFT", "RIGHT")
    assert moved == taker.job_id(key).encode()
    return taker


@needs_redis
async def test_a_job_just_taken_from_the_queue_is_not_swept_before_its_worker_marks_it_active(saq) -> None:
    """SAQ's own sweep aborted such jobs: runs failed "shut down" on a busy box (bench P2)."""
    queue, _start_worker = saq
    await queue.enqueue(SLEEPING_JOB, key="taken", tag="taken", seconds=0)
    sweeper = await _take_without_starting("taken")
    try:
        assert await sweeper.sweep() == []
        assert await _status(queue, "taken") == Status.QUEUED
        assert await sweeper.redis.lrange(sweeper._active, 0, -1) == [sweeper.job_id("taken").encode()]
    finally:
        await sweeper.disconnect()


@needs_redis
async def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(
    saq, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, start_worker = saq
    monkeypatch.setattr(worker_module, "UNSTARTED_SWEPT_AFTER_SECONDS", 0.3)
    await queue.enqueue(SLEEPING_JOB, key="orphan", tag="orphan", seconds=0)
    sweeper = await _take_without_starting("orphan")
    try:
        assert await sweeper.sweep() == []  # first seen unstarted: noted
        await sweeper.redis.delete(sweeper._sweep)  # the next sweep's turn (SAQ: one a minute)
        await asyncio.sleep(0.4)
        assert await sweeper.sweep(abort=0.1) == [sweeper.job_id("orphan")]
        assert await sweeper.redis.lrange(sweeper._active, 0, -1) == []
        assert await _status(queue, "orphan") == Status.QUEUED  # back in the queue: it never ran
    finally:
        await sweeper.disconnect()
    start_worker()

    async def done() -> bool:
        return await _status(queue, "orphan") == Status.COMPLETE

    await _until(done, 5, "a live worker did not run the job handed back")
    assert _runs == ["orphan"]


@needs_redis
async def test_a_drain_lets_running_jobs_finish_and_takes_no_new_one(saq) -> None:
    queue, start_worker = saq
    worker = start_worker()
    await queue.enqueue(SLEEPING_JOB, key="running", tag="running", seconds=1.5)

    async def started() -> bool:
        return _runs == ["running"]

    await _until(started, 5, "the job did not start")
    drain = asyncio.create_task(worker.drain(grace=10))
    await asyncio.sleep(0.1)
    await queue.enqueue(SLEEPING_JOB, key="later", tag="later", seconds=0)
    began = time.monotonic()
    await drain

    assert time.monotonic() - began < 4  # the running job's 1.5 s, then an idle dequeue's return
    assert await _status(queue, "running") == Status.COMPLETE
    assert await _status(queue, "later") == Status.QUEUED and _runs == ["running"]
    assert (await queue.backlog()).depth == 1  # still waiting, for the next worker

    start_worker()

    async def later_done() -> bool:
        return await _status(queue, "later") == Status.COMPLETE

    await _until(later_done, 5, "the next worker did not run the waiting job")
    assert _runs == ["running", "later"]


@needs_redis
async def test_a_job_still_running_after_the_grace_is_cancelled_and_handed_back(saq) -> None:
    queue, start_worker = saq
    worker = start_worker()
    await queue.enqueue(SLEEPING_JOB, key="endless", tag="endless", seconds=60)

    async def started() -> bool:
        return _runs == ["endless"]

    await _until(started, 5, "the job did not start")
    began = time.monotonic()
    await worker.drain(grace=0.5)

    assert time.monotonic() - began < 5
    assert await _status(queue, "endless") == Status.QUEUED  # back in the queue, for another worker


@needs_redis
async def test_workers_record_their_presence_for_the_app(saq) -> None:
    queue, start_worker = saq
    assert await queue.seconds_since_worker_seen() is None  # no worker ever

    worker = start_worker()

    async def seen() -> bool:
        return await queue.seconds_since_worker_seen() is not None

    await _until(seen, 5, "the worker did not record itself")
    assert (await queue.seconds_since_worker_seen() or 0) < 2
    await worker.drain(grace=1)  # a stopped worker records nothing more
    await queue.queue.redis.zadd(WORKERS_KEY, {worker.worker_id: time.time() - 50})
    await asyncio.sleep(0.2)
    assert 49 < (await queue.seconds_since_worker_seen() or 0) < 52

    await record_presence(queue.queue, "another-worker")  # the newest worker counts
    assert (await queue.seconds_since_worker_seen() or 99) < 1


async def test_the_embedded_queue_is_its_own_worker() -> None:
    assert await EmbeddedJobQueue({}).seconds_since_worker_seen() == 0.0
