"""Lost workers: the sweep that fails their runs, and a real worker process killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from galaxyco_ui.config import get_settings, reset_settings
from galaxyco_ui.devtools.script import Script
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue, get_job_queue
from galaxyco_ui.models import Agent, Run, utcnow
from galaxyco_ui.runs import store
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.runs.executor import execute_run
from galaxyco_ui.services import runs, schedules, workers
from tests.factories import make_agent
from tests.runs.conftest import WORKER_LOST_AFTER


def insert_running(ctx, agent_id: str, *, beat_ago: timedelta | None, status: str = "running") -> str:  # type: ignore[no-untyped-def]
    now = utcnow()
    with session_scope() as session:
        run = Run(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            agent_id=agent_id,
            input="Hi",
            status=status,
            started_at=now - timedelta(minutes=5),
            heartbeat_at=None if beat_ago is None else now - beat_ago,
        )
        session.add(run)
        session.flush()
        return run.id


def queued_run(team, agent, text: str, *, queued_ago: timedelta = timedelta(0)) -> str:  # type: ignore[no-untyped-def]
    """A queued run written directly: no job anywhere (as after a Redis restart)."""
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id,
            created_by=team.member.user_id,
            agent_id=agent.id,
            input=text,
            agent_snapshot=store.agent_snapshot(session.get(Agent, agent.id)),  # type: ignore[arg-type]
            updated_at=utcnow() - queued_ago,
        )
        session.add(run)
        session.flush()
        return run.id


def load_run(run_id: str) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


@pytest.fixture
def lost_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """WORKER_LOST_AFTER_SECONDS=5 for this test (and any worker process it starts)."""
    monkeypatch.setenv("WORKER_LOST_AFTER_SECONDS", str(WORKER_LOST_AFTER))
    reset_settings()
    yield WORKER_LOST_AFTER
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
async def clients() -> AsyncIterator[None]:
    """Closes this loop's queue and Redis clients (no in-process worker: the subprocess is it)."""
    yield
    await close_job_queue()
    await close_async_redis()


# ---------------------------------------------------------------- the sweep


def test_the_sweep_fails_running_runs_with_a_stale_heartbeat_and_leaves_fresh_ones(team, other_team):
    agent = make_agent(team.member).id
    stale = insert_running(team.member, agent, beat_ago=timedelta(seconds=60))
    foreign_stale = insert_running(
        other_team.member, make_agent(other_team.member).id, beat_ago=timedelta(seconds=60)
    )
    fresh = insert_running(team.member, agent, beat_ago=timedelta(seconds=1))
    queued = insert_running(team.member, agent, beat_ago=timedelta(seconds=60), status="queued")
    done = insert_running(team.member, agent, beat_ago=timedelta(seconds=60), status="succeeded")

    lost = store.sweep_lost_runs(stale_after=timedelta(seconds=30))

    assert sorted(lost) == sorted([(stale, team.workspace_id), (foreign_stale, other_team.workspace_id)])
    for run_id in (stale, foreign_stale):
        run = load_run(run_id)
        assert (run.status, run.error) == ("failed", store.WORKER_LOST) and run.finished_at is not None
    assert load_run(fresh).status == "running"
    assert load_run(queued).status == "queued"
    assert load_run(done).status == "succeeded" and load_run(done).error == ""
    assert store.sweep_lost_runs(stale_after=timedelta(seconds=30)) == []


def test_a_lost_run_is_not_moved_again_by_a_late_finish_or_heartbeat(team):
    run_id = insert_running(team.member, make_agent(team.member).id, beat_ago=timedelta(seconds=60))
    store.sweep_lost_runs(stale_after=timedelta(seconds=30))

    store.heartbeat(run_id)
    assert store.finish_run(run_id, status="succeeded", output="late") is None

    run = load_run(run_id)
    assert (run.status, run.output, run.error) == ("failed", "", store.WORKER_LOST)


async def test_a_run_whose_finish_fails_on_the_database_is_failed_as_lost_and_not_run_again(
    wired, emulator, lost_after, monkeypatch
):
    team, agent = wired
    run_id = queued_run(team, agent, "Hello")
    monkeypatch.setattr(store, "finish_run", _database_error)

    with pytest.raises(OperationalError):
        await execute_run(run_id)  # the job fails: the embedded queue logs it, SAQ records it
    monkeypatch.undo()

    assert load_run(run_id).status == "running"  # nothing moves its heartbeat any more
    _beat_back(run_id, seconds=lost_after + 1)
    await schedules.tick()
    run = load_run(run_id)
    assert (run.status, run.error) == ("failed", store.WORKER_LOST)
    assert await execute_run(run_id) is None  # a job delivered again does not run it twice
    assert len(emulator.requests) == 1


async def test_a_run_whose_claim_fails_on_the_database_stays_queued_and_runs_once_when_enqueued_again(
    wired, emulator, engine, monkeypatch
):
    team, agent = wired
    run_id = queued_run(team, agent, "Hello", queued_ago=timedelta(minutes=2))
    monkeypatch.setattr(store, "claim_run", _database_error)

    with pytest.raises(OperationalError):
        await execute_run(run_id)
    monkeypatch.undo()

    assert load_run(run_id).status == "queued" and emulator.requests == []
    workers.reset_recovery()
    assert await workers.recover_runs() == ([], [run_id])
    assert (await engine(run_id)).status == "succeeded"
    assert len(emulator.requests) == 1


def _database_error(*_args: object, **_kwargs: object) -> None:
    raise OperationalError("UPDATE runs ...", {}, Exception("database is locked"))


def _beat_back(run_id: str, *, seconds: float) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.heartbeat_at = utcnow() - timedelta(seconds=seconds)


async def test_tick_fails_lost_runs_and_tells_their_watchers(team, lost_after, clients):
    run_id = insert_running(
        team.member, make_agent(team.member).id, beat_ago=timedelta(seconds=lost_after + 2)
    )

    assert await schedules.tick() == []

    assert load_run(run_id).error == store.WORKER_LOST
    final = [e for e in await get_event_bus().read(run_stream(run_id), after=None) if e.type == "final"]
    assert [e.data for e in final] == [{"status": "failed", "error": store.WORKER_LOST}]
    assert runs.get_run(ctx=team.viewer, run_id=run_id).status == "failed"


# ---------------------------------------------------------------- a real worker, killed


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


async def _until(condition, timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s; worker log:\n{_read(log)}")
        await asyncio.sleep(0.1)


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="the worker process needs TEST_REDIS_URL")
async def test_a_run_whose_worker_is_killed_fails_as_worker_lost_and_is_not_rerun(
    wired, emulator, lost_after, clients, worker_process, tmp_path
):
    team, agent = wired
    assert get_settings().redis_url
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=5))  # ~40 s of streaming
    log = tmp_path / "worker.log"
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Talk slowly")

    async def streaming() -> bool:
        assert worker_process.poll() is None, _read(log)
        return load_run(view.id).status == "running" and len(emulator.requests) == 1

    await _until(streaming, 30, "the worker did not start streaming the run", worker_process, log)
    worker_process.send_signal(signal.SIGKILL)
    worker_process.wait(timeout=10)
    killed = time.monotonic()

    async def failed() -> bool:
        await schedules.tick()
        return load_run(view.id).status == "failed"

    await _until(failed, 15, "the run was not failed as worker lost", worker_process, log)
    assert time.monotonic() - killed < 15

    run = load_run(view.id)
    assert run.error == store.WORKER_LOST and "worker lost" in run.error
    assert run.step_count == 0  # the killed turn never completed, and nothing ran it again
    assert len(emulator.requests) == 1
    final = [e for e in await get_event_bus().read(run_stream(view.id), after=None) if e.type == "final"]
    assert [e.data["status"] for e in final] == ["failed"]
    assert runs.get_run(ctx=team.viewer, run_id=view.id).status == "failed"
    # SAQ will not retry the abandoned job, and were it delivered again the executor skips it.
    job = await get_job_queue().queue.job(view.id)  # type: ignore[attr-defined]
    assert job is not None and job.attempts == 1 and not job.retryable
    assert await execute_run(view.id) is None
    assert len(emulator.requests) == 1 and load_run(view.id).step_count == 0
