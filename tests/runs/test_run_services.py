"""The runs service: history filters and pages, tenancy, start limits, cancel and idempotence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.errors import NotFoundError, RateLimitedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import reset_sliding_window
from galaxyco_ui.models import AuditEvent, Run, RunStep
from galaxyco_ui.runs.executor import execute_run
from galaxyco_ui.services import runs
from tests.factories import make_agent

BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def insert_run(ctx, agent_id: str, **values) -> str:  # type: ignore[no-untyped-def]
    """A run row written directly (nothing executes it); ``ctx`` gives workspace and creator."""
    values.setdefault("created_by", ctx.user_id)
    with session_scope() as session:
        run = Run(
            workspace_id=ctx.workspace_id,
            agent_id=agent_id,
            input=values.pop("input", "Hi"),
            agent_snapshot={"name": "Direct", "provider": "openai", "model": "gpt-4.1-mini"},
            **values,
        )
        session.add(run)
        session.flush()
        return run.id


def load_run(run_id: str) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def count_runs(workspace_id: str) -> int:
    with session_scope() as session:
        return session.exec(
            select(func.count()).select_from(Run).where(Run.workspace_id == workspace_id)
        ).one()


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``limits(NAME=value, ...)`` sets settings for one test; they are restored after it."""

    def apply(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()
        reset_sliding_window()

    yield apply
    monkeypatch.undo()
    reset_settings()
    reset_sliding_window()


# ---------------------------------------------------------------- history


@pytest.fixture
def history(team, other_team):  # type: ignore[no-untyped-def]
    """30 runs of two agents in ``team``, a minute apart, plus one foreign run."""
    first, second = make_agent(team.member).id, make_agent(team.admin).id
    statuses = ("succeeded", "failed", "cancelled", "queued", "running")
    triggers = ("manual", "schedule", "api")
    ids = []
    for i in range(30):
        ids.append(
            insert_run(
                team.member if i % 2 == 0 else team.admin,
                first if i < 20 else second,
                status=statuses[i % 5],
                trigger=triggers[i % 3],
                created_at=BASE + timedelta(minutes=i // 3 * 3),  # runs share a minute in threes
            )
        )
    foreign = insert_run(other_team.member, make_agent(other_team.member).id, created_at=BASE)
    return {"ids": ids, "first": first, "second": second, "foreign": foreign}


def _all(ctx, **filters) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.id for r in runs.list_runs(ctx=ctx, limit=100, **filters).runs]


def test_list_runs_shows_the_workspaces_runs_newest_first(team, history):
    listed = runs.list_runs(ctx=team.viewer, limit=100).runs

    assert {r.id for r in listed} == set(history["ids"])
    assert [r.created_at for r in listed] == sorted((r.created_at for r in listed), reverse=True)
    assert history["foreign"] not in {r.id for r in listed}


def test_list_runs_filters_by_status_agent_trigger_and_starter(team, history):
    ids = history["ids"]

    assert set(_all(team.viewer, status="failed")) == {ids[i] for i in range(30) if i % 5 == 1}
    assert set(_all(team.viewer, agent_id=history["second"])) == set(ids[20:])
    assert set(_all(team.viewer, trigger="schedule")) == {ids[i] for i in range(30) if i % 3 == 1}
    assert set(_all(team.viewer, started_by=team.admin.user_id)) == set(ids[1::2])
    assert set(
        _all(team.viewer, status="queued", agent_id=history["first"], started_by=team.admin.user_id)
    ) == {ids[i] for i in range(20) if i % 5 == 3 and i % 2 == 1}
    assert _all(team.viewer, status="succeeded", agent_id=history["foreign"]) == []


def test_list_runs_filters_by_a_half_open_time_range(team, history):
    ids = history["ids"]
    since, until = BASE + timedelta(minutes=6), BASE + timedelta(minutes=12)

    assert set(_all(team.viewer, since=since)) == set(ids[6:])
    assert set(_all(team.viewer, until=until)) == set(ids[:12])
    assert set(_all(team.viewer, since=since, until=until)) == set(ids[6:12])


def test_pages_cover_every_run_once_even_when_runs_share_a_timestamp(team, history):
    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        page = runs.list_runs(ctx=team.viewer, cursor=cursor, limit=7)
        seen += [r.id for r in page.runs]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert pages == 5  # 7 + 7 + 7 + 7 + 2
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == set(history["ids"])
    assert seen == _all(team.viewer)


def test_pages_respect_the_filters(team, history):
    first = runs.list_runs(ctx=team.viewer, agent_id=history["second"], limit=6)
    second = runs.list_runs(ctx=team.viewer, agent_id=history["second"], limit=6, cursor=first.next_cursor)

    assert second.next_cursor == ""
    assert {r.id for r in first.runs + second.runs} == set(history["ids"][20:])


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "2025-13-01T00:00:00+00:00|abc",
        "|",
        "2025-06-01T12:00:00|abc",
        "2025-06-01T12:00:00+00:00|a\x00b",  # a NUL would reach (and crash) PostgreSQL
    ],
)
def test_a_garbage_cursor_is_refused_as_invalid(team, history, cursor):
    with pytest.raises(ValidationError) as caught:
        runs.list_runs(ctx=team.viewer, cursor=cursor)

    assert set(caught.value.field_errors) == {"cursor"}


def test_list_active_runs_shows_queued_and_running_runs_oldest_first(team, history):
    active = runs.list_active_runs(ctx=team.viewer)

    ids = history["ids"]
    assert {r.id for r in active} == {ids[i] for i in range(30) if i % 5 in (3, 4)}
    assert [r.created_at for r in active] == sorted(r.created_at for r in active)
    assert {r.status for r in active} == {"queued", "running"}
    assert all(r.can_cancel is False for r in active)  # viewers cannot cancel
    assert all(r.can_cancel for r in runs.list_active_runs(ctx=team.member))


# ---------------------------------------------------------------- tenancy


async def test_a_foreign_workspaces_run_is_not_found_and_unchanged(team, other_team, engine):
    foreign = insert_run(other_team.member, make_agent(other_team.member).id, status="queued")

    with pytest.raises(NotFoundError):
        runs.get_run(ctx=team.owner, run_id=foreign)
    with pytest.raises(NotFoundError):
        runs.get_steps(ctx=team.owner, run_id=foreign)
    with pytest.raises(NotFoundError):
        await runs.cancel_run(ctx=team.owner, run_id=foreign)
    with pytest.raises(NotFoundError):
        await runs.retry_run(ctx=team.owner, run_id=foreign)

    assert runs.list_runs(ctx=team.owner).runs == []
    assert runs.list_active_runs(ctx=team.owner) == []
    assert load_run(foreign).status == "queued"
    assert count_runs(team.workspace_id) == 0 and count_runs(other_team.workspace_id) == 1


async def test_starting_a_foreign_workspaces_agent_is_not_found(team, other_team, engine):
    foreign_agent = make_agent(other_team.member)

    with pytest.raises(NotFoundError):
        await runs.start_run(ctx=team.owner, agent_id=foreign_agent.id, input="Hi")

    assert count_runs(team.workspace_id) == count_runs(other_team.workspace_id) == 0


# ---------------------------------------------------------------- starting


@pytest.mark.parametrize("text_", ["", "   \n\t "])
async def test_a_run_without_input_is_refused(team, text_):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input=text_)

    assert caught.value.field_errors == {"input": "Write what the agent should do."}
    assert count_runs(team.workspace_id) == 0


async def test_an_oversized_input_is_refused_and_the_limit_input_is_accepted(team, engine):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="x" * (runs.MAX_INPUT_CHARS + 1))
    assert caught.value.field_errors == {"input": "Keep the input under 20,000 characters."}

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="x" * runs.MAX_INPUT_CHARS)
    assert len(view.input) == runs.MAX_INPUT_CHARS
    await engine(view.id)


async def test_a_user_who_starts_too_many_runs_a_minute_is_told_when_to_retry(wired, engine, limits):
    limits(USER_RUN_STARTS_PER_MINUTE=2)
    team, agent = wired
    started = [(await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id for _ in range(2)]

    with pytest.raises(RateLimitedError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")

    assert caught.value.message.startswith("You started 2 runs in the last minute. Try again in ")
    assert 1 <= caught.value.retry_after <= 61
    assert f"{caught.value.retry_after} seconds" in caught.value.message
    assert count_runs(team.workspace_id) == 2
    other = await runs.start_run(ctx=team.admin, agent_id=agent.id, input="Hi")  # the limit is per user
    for run_id in [*started, other.id]:
        await engine(run_id)


async def test_a_workspace_at_its_concurrent_run_cap_refuses_another_start(team, other_team, engine, limits):
    limits(WORKSPACE_MAX_CONCURRENT_RUNS=1)
    agent = make_agent(team.member)
    insert_run(team.member, agent.id, status="queued")

    with pytest.raises(RateLimitedError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")

    assert "already has 1 runs going (the limit is 1)" in caught.value.message
    assert caught.value.retry_after > 0
    assert count_runs(team.workspace_id) == 1
    # Another workspace's runs do not count against this one, and vice versa.
    foreign_agent = make_agent(other_team.member)
    foreign = await runs.start_run(ctx=other_team.member, agent_id=foreign_agent.id, input="Hi")
    await engine(foreign.id)


async def test_finished_runs_do_not_count_against_the_concurrent_cap(team, engine, limits):
    limits(WORKSPACE_MAX_CONCURRENT_RUNS=1)
    agent = make_agent(team.member)
    for status in ("succeeded", "failed", "cancelled"):
        insert_run(team.member, agent.id, status=status)

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")

    assert view.status == "queued"
    await engine(view.id)


# ---------------------------------------------------------------- cancel and idempotence


async def test_cancelling_a_queued_run_cancels_it_at_once(team, engine):
    agent = make_agent(team.member)
    run_id = insert_run(team.member, agent.id, status="queued")

    await runs.cancel_run(ctx=team.member, run_id=run_id)

    run = load_run(run_id)
    assert run.status == "cancelled" and run.error == "Cancelled before it started."
    assert run.finished_at is not None and run.cancel_requested_at is not None
    assert runs.get_run(ctx=team.viewer, run_id=run_id).can_cancel is False
    assert await execute_run(run_id) is None  # an executor that picks it up later does nothing
    assert load_run(run_id).status == "cancelled"


async def test_cancelling_a_run_is_recorded_in_the_audit_log(team, other_team, engine):
    agent = make_agent(team.member)
    queued = insert_run(team.member, agent.id, status="queued")
    finished = insert_run(team.member, agent.id, status="succeeded")

    await runs.cancel_run(ctx=team.member, run_id=queued)
    await runs.cancel_run(ctx=team.member, run_id=finished)  # nothing to cancel: nothing recorded
    with pytest.raises(NotFoundError):
        await runs.cancel_run(ctx=other_team.admin, run_id=queued)

    with session_scope() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "run.cancelled")).all()
    assert [(e.workspace_id, e.created_by, e.target_type, e.target_id) for e in events] == [
        (team.workspace_id, team.member.user_id, "run", queued)
    ]
    assert events[0].summary == "Cancelled a queued run of “Direct”"  # the agent as the run recorded it


async def test_cancelling_a_finished_run_changes_nothing(team, engine):
    agent = make_agent(team.member)
    run_id = insert_run(team.member, agent.id, status="succeeded", output="Done")

    await runs.cancel_run(ctx=team.member, run_id=run_id)

    run = load_run(run_id)
    assert (run.status, run.output, run.error) == ("succeeded", "Done", "")


async def test_executing_a_finished_run_again_does_nothing(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("Once."), usage(2, 2)]))
    run_id = (await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id
    before = await engine(run_id)
    requests = len(emulator.requests)

    assert await execute_run(run_id) is None

    after = load_run(run_id)
    assert (after.status, after.output, after.finished_at, after.step_count) == (
        "succeeded",
        "Once.",
        before.finished_at,
        before.step_count,
    )
    assert len(emulator.requests) == requests == 1
    with session_scope() as session:
        steps = session.exec(
            select(func.count()).select_from(RunStep).where(col(RunStep.run_id) == run_id)
        ).one()
    assert steps == before.step_count == 1
