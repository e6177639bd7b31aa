"""Faults around workers: SIGTERM to a real worker process with runs in flight, the
recovery sweep the app process runs too, and whether runs wait for a missing worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.bus import MemoryEventBus
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue, get_job_queue
from galaxyco_ui.jobs.queue import WORKERS_KEY
from galaxyco_ui.models import utcnow
from galaxyco_ui.runs import heartbeats, store
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.runs.executor import execute_run
from galaxyco_ui.runs.worker import build_worker
from galaxyco_ui.services import runs, workers
from tests.factories import make_agent
from tests.runs.test_worker_lost import insert_running, load_run, queued_run

ROOT = Path(__file__).resolve().parents[2]
GRACE = 3
needs_redis = pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")


def scripted(tag: str, words: int, per_second: float) -> str:
    """A run input the emulator answers with ``words`` words at ``per_second`` (tagged)."""
    return json.dumps(
        {"emulator": {"steps": [{"text": "word " * words}], "tokens_per_second": per_second}, "tag": tag}
    )


def requests_for(emulator, tag: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in emulator.requests if f'\\"tag\\": \\"{tag}\\"' in json.dumps(r.body))


@pytest.fixture(autouse=True)
async def _fresh() -> AsyncIterator[None]:
    workers.reset_recovery()
    yield
    await close_job_queue()
    await close_async_redis()


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """WORKER_SHUTDOWN_GRACE_SECONDS=GRACE for this test and the worker process it starts
    (and the default 15 s before a run counts as lost: its tick must not fail the long run)."""
    monkeypatch.setenv("WORKER_SHUTDOWN_GRACE_SECONDS", str(GRACE))
    monkeypatch.setenv("WORKER_LOST_AFTER_SECONDS", "15")
    reset_settings()
    yield GRACE
    monkeypatch.undo()
    reset_settings()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _until(condition, timeout: float, what: str, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            tail = _tail(log) if log else ""
            raise AssertionError(f"{what} within {timeout} s\n{tail}")
        await asyncio.sleep(0.1)


@needs_redis
async def test_sigterm_finishes_what_fits_the_grace_fails_the_rest_takes_nothing_new_and_exits(
    wired, emulator, short_grace, worker_process, tmp_path
):
    team, agent = wired
    log = tmp_path / "worker.log"
    # ~2 s of streaming: it ends inside the grace.
    short = await runs.start_run(ctx=team.member, agent_id=agent.id, input=scripted("short", 8, 4))
    # ~40 s: still streaming when the grace ends.
    long = await runs.start_run(ctx=team.member, agent_id=agent.id, input=scripted("long", 80, 2))

    async def both_streaming() -> bool:
        assert worker_process.poll() is None, _tail(log)
        return len(emulator.requests) == 2

    await _until(both_streaming, 60, "the worker did not start both runs", log)
    worker_process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    await asyncio.sleep(0.3)
    later = await runs.start_run(ctx=team.member, agent_id=agent.id, input=scripted("later", 3, 100))

    await asyncio.to_thread(worker_process.wait, GRACE + 15)
    exited = time.monotonic() - signalled
    assert worker_process.returncode == 0 and exited < GRACE + 12, (exited, _tail(log))

    assert load_run(short.id).status == "succeeded" and load_run(short.id).step_count == 1
    failed = load_run(long.id)
    assert failed.status == "failed" and "shut down" in failed.error and failed.step_count == 0
    assert load_run(later.id).status == "queued"  # the draining worker took nothing new
    assert [requests_for(emulator, tag) for tag in ("short", "long", "later")] == [1, 1, 0]

    # The next worker runs the waiting run once; the failed one is never started again.
    worker = build_worker(concurrency=4)
    task = asyncio.create_task(worker.start())
    try:

        async def later_done() -> bool:
            return load_run(later.id).status == "succeeded"

        await _until(later_done, 10, "the next worker did not run the waiting run")
        await asyncio.sleep(0.5)  # time for any job handed back to come round
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.queue.disconnect()
    assert [requests_for(emulator, tag) for tag in ("short", "long", "later")] == [1, 1, 1]
    assert load_run(long.id).status == "failed" and load_run(long.id).step_count == 0


# ---------------------------------------------------------------- the recovery sweep


async def test_the_recovery_sweep_fails_a_lost_run_once_however_many_processes_sweep(team):
    run_id = insert_running(team.member, make_agent(team.member).id, beat_ago=timedelta(seconds=60))

    results = await asyncio.gather(*(workers.recover_runs(requeue=False) for _ in range(4)))

    assert sorted(failed for lost, _ in results for failed in lost) == [run_id]
    run = load_run(run_id)
    assert (run.status, run.error) == ("failed", store.WORKER_LOST)
    final = [e for e in await get_event_bus().read(run_stream(run_id), after=None) if e.type == "final"]
    assert [e.data for e in final] == [{"status": "failed", "error": store.WORKER_LOST}]


def test_a_run_that_finishes_as_the_sweep_runs_keeps_its_own_ending(team):
    run_id = insert_running(team.member, make_agent(team.member).id, beat_ago=timedelta(seconds=60))
    assert store.finish_run(run_id, status="succeeded", output="done") is not None

    assert store.sweep_lost_runs(stale_after=timedelta(seconds=30)) == []
    assert (load_run(run_id).status, load_run(run_id).output) == ("succeeded", "done")


async def test_the_recovery_sweep_enqueues_again_a_run_whose_job_was_lost(wired, engine):
    team, agent = wired
    stale_id = queued_run(team, agent, "Hello again", queued_ago=timedelta(minutes=2))
    fresh_id = queued_run(team, agent, "Just queued")

    lost, requeued = await workers.recover_runs()

    assert (lost, requeued) == ([], [stale_id])  # a run queued a moment ago is left to its job
    assert (await engine(stale_id)).status == "succeeded"
    assert load_run(fresh_id).status == "queued"
    assert await workers.recover_runs() == ([], [])  # at most every REQUEUE_EVERY_SECONDS


# ---------------------------------------------------------------- the "no worker" banner


async def test_the_embedded_mode_never_waits_for_a_worker():
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("the embedded mode has no REDIS_URL")
    presence = await workers.worker_presence()
    assert (presence.scale_out, presence.missing, presence.message) == (False, False, "")


@needs_redis
async def test_the_no_worker_banner_shows_while_no_worker_is_seen_and_goes_when_one_is():
    redis = get_job_queue().queue.redis  # type: ignore[attr-defined]

    never = await workers.worker_presence()
    assert never.scale_out and never.missing
    assert never.message == (
        "No worker has picked up runs for 45 s: queued runs wait until one starts. Ask your operator."
    )

    await redis.zadd(WORKERS_KEY, {"w1": time.time() - 10})
    assert not (await workers.worker_presence()).missing and (await workers.worker_presence()).message == ""

    await redis.zadd(WORKERS_KEY, {"w1": time.time() - 46})
    assert (await workers.worker_presence()).missing

    worker = build_worker(concurrency=1)  # a real worker records itself as it starts
    task = asyncio.create_task(worker.start())
    try:

        async def seen() -> bool:
            return not (await workers.worker_presence()).missing

        await _until(seen, 5, "the started worker was not seen")
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.queue.disconnect()


# ---------------------------------------------------------------- heartbeats


async def test_one_heartbeat_moves_every_running_run_of_the_process(team, monkeypatch):
    agent_id = make_agent(team.member).id
    first, second = (insert_running(team.member, agent_id, beat_ago=timedelta(seconds=60)) for _ in range(2))
    done = insert_running(team.member, agent_id, beat_ago=timedelta(seconds=60), status="succeeded")
    monkeypatch.setattr(heartbeats, "HEARTBEAT_INTERVAL", 0.05)

    with heartbeats.beating(first), heartbeats.beating(second), heartbeats.beating(done):
        await asyncio.sleep(0.3)

    assert store.sweep_lost_runs(stale_after=timedelta(seconds=30)) == []  # both beat since
    assert load_run(done).heartbeat_at < utcnow() - timedelta(seconds=50)  # a finished run is left alone


class _BrokenBus(MemoryEventBus):
    """The event bus while Redis restarts: every publish fails."""

    async def publish(self, stream: str, type: str, data: dict) -> str:  # type: ignore[override]
        raise ConnectionError("Connection refused")


async def test_a_run_goes_on_when_its_live_events_cannot_be_published(wired, emulator):
    team, agent = wired
    run_id = queued_run(team, agent, scripted("busless", 5, 100))

    assert await execute_run(run_id, bus=_BrokenBus()) == "succeeded"

    finished = load_run(run_id)
    assert (finished.status, finished.step_count) == ("succeeded", 1) and "word" in finished.output
