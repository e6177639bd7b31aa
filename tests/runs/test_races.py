"""Two actors at once: the run engine's check-then-write steps must not let both through.

Each test makes its threads meet right before a given SQL statement (``meet_before``), so
every thread has done its check when the first write happens: the interleaving that a
count-then-write or read-then-update gets wrong. A correct implementation holds a lock at
that point, so the meeting times out and the threads go on one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, func, select

from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import RateLimitedError
from galaxyco_ui.infra.db import get_engine, session_scope
from galaxyco_ui.infra.ratelimit import reset_sliding_window
from galaxyco_ui.models import Run
from galaxyco_ui.runs import store
from galaxyco_ui.services import runs
from tests.factories import make_agent

MEET_TIMEOUT = 1.0  # how long a thread waits for the others at the statement


@contextmanager
def meet_before(prefix: str, parties: int) -> Iterator[None]:
    """Hold each of ``parties`` threads before its first statement starting with ``prefix``
    until all have arrived (or ``MEET_TIMEOUT`` passed: one of them is blocked on a lock).
    """
    barrier = threading.Barrier(parties)
    arrived: set[int] = set()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        me = threading.get_ident()
        if statement.lstrip().upper().startswith(prefix) and me not in arrived:
            arrived.add(me)
            # A broken or timed-out meeting: someone waits on a lock we hold; go on alone.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(MEET_TIMEOUT)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads at the same time; each outcome is a value or the exception."""

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as error:  # the test inspects what each one got
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(outcome, calls))


def active_runs(workspace_id: str) -> int:
    with session_scope() as session:
        return session.exec(
            select(func.count())
            .select_from(Run)
            .where(Run.workspace_id == workspace_id, col(Run.status).in_(("queued", "running")))
        ).one()


def test_two_workers_claiming_one_run_at_once_get_it_only_once(team):
    agent = make_agent(team.member)
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id,
            created_by=team.member.user_id,
            agent_id=agent.id,
            input="Hi",
            agent_snapshot=store.agent_snapshot(agent),
        )
        session.add(run)
        session.flush()
        run_id = run.id

    with meet_before("UPDATE RUNS", 2):
        outcomes = at_once([lambda: store.claim_run(run_id), lambda: store.claim_run(run_id)])

    claimed = [o for o in outcomes if isinstance(o, store.ClaimedRun)]
    assert len(claimed) == 1, outcomes
    assert outcomes.count(None) == 1, outcomes


async def test_concurrent_starts_never_exceed_the_workspace_run_cap(team, monkeypatch):
    monkeypatch.setenv("WORKSPACE_MAX_CONCURRENT_RUNS", "1")
    reset_settings()
    reset_sliding_window()
    agent = make_agent(team.member)
    users = [team.member, team.admin, team.owner]

    def start(ctx):  # type: ignore[no-untyped-def]
        # _create_run is start_run's transaction (the queue hand-off comes after it).
        return runs._create_run(ctx, agent.id, "Hi", "manual", None, None)

    with meet_before("INSERT INTO RUNS", len(users)):
        outcomes = await asyncio.to_thread(at_once, [lambda ctx=ctx: start(ctx) for ctx in users])

    started = [o for o in outcomes if isinstance(o, runs.RunView)]
    refused = [o for o in outcomes if isinstance(o, RateLimitedError)]
    assert len(started) == 1 and len(refused) == len(users) - 1, outcomes
    assert "the limit is 1" in refused[0].message
    assert active_runs(team.workspace_id) == 1
    monkeypatch.undo()
    reset_settings()


async def test_concurrent_batches_of_starts_never_exceed_the_workspace_run_cap(team, monkeypatch):
    """Two processes' batches (group commit) at once: the workspace lock still orders them."""
    monkeypatch.setenv("WORKSPACE_MAX_CONCURRENT_RUNS", "3")
    reset_settings()
    reset_sliding_window()
    agent = make_agent(team.member)

    def batch(ctx):  # type: ignore[no-untyped-def]
        # _create_runs is one batch's transaction (start_run hands it the starts that arrive together).
        return runs._create_runs([runs._Start(ctx, agent.id, "Hi", "manual") for _ in range(2)])

    with meet_before("INSERT INTO RUNS", 2):
        first, second = await asyncio.to_thread(
            at_once, [lambda: batch(team.member), lambda: batch(team.admin)]
        )

    outcomes = [*first, *second]
    started = [o for o in outcomes if isinstance(o, runs.RunView)]
    refused = [o for o in outcomes if isinstance(o, RateLimitedError)]
    assert len(started) == 3 and len(refused) == 1, outcomes
    assert "the limit is 3" in refused[0].message
    assert active_runs(team.workspace_id) == 3
    monkeypatch.undo()
    reset_settings()


@pytest.fixture(autouse=True)
def _no_leftover_settings() -> Iterator[None]:
    yield
    reset_settings()
