"""Group commit of run starts: a burst of starts in one workspace shares one transaction,
and each caller still gets its own run or its own refusal (``services.run_starts``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, RateLimitedError
from galaxyco_ui.infra.db import get_engine, session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.services import runs
from tests.factories import make_agent
from tests.runs.test_run_services import limits  # noqa: F401  (a fixture: settings for one test)


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements executed inside the block, upper-cased."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.lstrip().upper())

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)


@contextmanager
def before_run_insert(hook: Any) -> Iterator[None]:
    """Call ``hook()`` (in the database thread) before each ``INSERT INTO runs``."""

    def check(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RUNS"):
            hook()

    event.listen(get_engine(), "before_cursor_execute", check)
    try:
        yield
    finally:
        event.remove(get_engine(), "before_cursor_execute", check)


def run_ids(workspace_id: str) -> list[str]:
    with session_scope() as session:
        return list(session.exec(select(Run.id).where(col(Run.workspace_id) == workspace_id)).all())


async def test_a_burst_of_starts_is_one_transaction_and_refusals_stay_with_their_caller(
    team,
    other_team,
    engine,
    limits,  # noqa: F811
):
    limits(WORKSPACE_MAX_CONCURRENT_RUNS=4, USER_RUN_STARTS_PER_MINUTE=2)
    agent, foreign = make_agent(team.member), make_agent(other_team.member)
    burst = [
        (team.member, agent.id),  # started
        (team.owner, foreign.id),  # another workspace's agent: not found
        (team.member, agent.id),  # started
        (team.member, agent.id),  # the member's third start this minute: refused
        (team.viewer, agent.id),  # viewers run nothing
        (team.admin, agent.id),  # started
        (team.admin, agent.id),  # started: the cap of 4 is now reached within the batch
        (team.owner, agent.id),  # refused by the cap, counting the runs admitted before it
    ]

    with statements() as seen:
        outcomes = await asyncio.gather(
            *(runs.start_run(ctx=ctx, agent_id=agent_id, input="Hi") for ctx, agent_id in burst),
            return_exceptions=True,
        )

    kinds = [type(o) for o in outcomes]
    assert kinds == [
        runs.RunView,
        NotFoundError,
        runs.RunView,
        RateLimitedError,
        PermissionDeniedError,
        runs.RunView,
        runs.RunView,
        RateLimitedError,
    ], outcomes
    member_limit, cap = outcomes[3], outcomes[7]
    assert isinstance(member_limit, RateLimitedError) and isinstance(cap, RateLimitedError)
    assert member_limit.message.startswith("You started 2 runs in the last minute.")
    assert "already has 4 runs going (the limit is 4)" in cap.message and cap.retry_after == 5
    started = [o for o in outcomes if isinstance(o, runs.RunView)]
    names = [v.started_by for v in started]  # each run shows its own starter (member, member, admin, admin)
    assert names[0] == names[1] != names[2] == names[3] and all(names)
    assert {v.status for v in started} == {"queued"} and all(v.can_cancel for v in started)
    assert sorted(run_ids(team.workspace_id)) == sorted(v.id for v in started)
    assert run_ids(other_team.workspace_id) == []
    # One transaction: one lock, one count, one insert for the four runs.
    assert sum(s.startswith("INSERT INTO RUNS") for s in seen) == 1
    assert sum("FOR UPDATE" in s or s.startswith("UPDATE WORKSPACES") for s in seen) == 1
    for view in started:
        assert (await engine(view.id)).status in ("succeeded", "failed")


async def test_a_database_error_fails_every_start_of_its_batch_and_writes_nothing(team, engine):
    agent = make_agent(team.member)

    def fail() -> None:
        raise OperationalError("INSERT INTO runs", {}, Exception("server closed the connection"))

    with before_run_insert(fail):
        outcomes = await asyncio.gather(
            *(runs.start_run(ctx=team.member, agent_id=agent.id, input=f"Hi {i}") for i in range(5)),
            return_exceptions=True,
        )

    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes
    assert run_ids(team.workspace_id) == []
    # The next start gets a transaction of its own and goes through.
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi again")
    assert run_ids(team.workspace_id) == [view.id]
    await engine(view.id)


async def test_a_caller_cancelled_before_its_batch_starts_writes_nothing(team, engine):
    agent = make_agent(team.member)

    waiting = asyncio.create_task(runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi"))
    await asyncio.sleep(0)  # it has joined the queue; its batch has not taken it yet
    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.05)
    assert run_ids(team.workspace_id) == []


async def test_a_caller_cancelled_while_its_batch_is_written_still_gets_its_run_queued(team, engine):
    """Its run is written once, announced and executed like the others; only the answer is lost."""
    agent = make_agent(team.member)
    inserting, go_on = threading.Event(), threading.Event()

    def hold() -> None:
        inserting.set()
        go_on.wait(5)

    with before_run_insert(hold):
        gone = asyncio.create_task(runs.start_run(ctx=team.member, agent_id=agent.id, input="Gone"))
        kept = asyncio.create_task(runs.start_run(ctx=team.admin, agent_id=agent.id, input="Kept"))
        assert await asyncio.to_thread(inserting.wait, 5)
        gone.cancel()
        go_on.set()
        view = await kept

    with pytest.raises(asyncio.CancelledError):
        await gone
    ids = run_ids(team.workspace_id)
    assert len(ids) == 2 and view.id in ids
    (orphan,) = set(ids) - {view.id}
    assert (await engine(orphan)).status in ("succeeded", "failed")  # it was queued
    events = await get_event_bus().read(run_stream(orphan), after=None)
    assert events[0].type == "status" and events[0].data == {"status": "queued"}
    await engine(view.id)


async def test_starts_that_arrive_during_a_batch_form_the_next_one(team, engine, limits):  # noqa: F811
    limits(WORKSPACE_MAX_CONCURRENT_RUNS=3)
    agent = make_agent(team.member)
    inserting, go_on = threading.Event(), threading.Event()

    def hold_first() -> None:
        if not inserting.is_set():
            inserting.set()
            go_on.wait(5)

    with before_run_insert(hold_first), statements() as seen:
        first = [
            asyncio.create_task(runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi"))
            for _ in range(2)
        ]
        assert await asyncio.to_thread(inserting.wait, 5)
        later = [
            asyncio.create_task(runs.start_run(ctx=team.admin, agent_id=agent.id, input="Later"))
            for _ in range(2)
        ]
        await asyncio.sleep(0.05)
        go_on.set()
        outcomes = await asyncio.gather(*first, *later, return_exceptions=True)

    assert [type(o) for o in outcomes] == [runs.RunView, runs.RunView, runs.RunView, RateLimitedError]
    assert "already has 3 runs going" in str(outcomes[3])
    assert sum(s.startswith("INSERT INTO RUNS") for s in seen) == 2  # two batches, not four
    for view in outcomes[:3]:
        assert isinstance(view, runs.RunView)
        await engine(view.id)


async def test_a_retry_joins_the_batch_and_repeats_the_run(team, engine):
    agent = make_agent(team.member)
    original = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Once more")
    await engine(original.id)

    retried, fresh = await asyncio.gather(
        runs.retry_run(ctx=team.admin, run_id=original.id),
        runs.start_run(ctx=team.member, agent_id=agent.id, input="Fresh"),
    )

    assert (retried.retry_of, retried.input, retried.agent_version) == (
        original.id,
        "Once more",
        original.agent_version,
    )
    assert fresh.retry_of is None and fresh.input == "Fresh"
    for view in (retried, fresh):
        await engine(view.id)
