"""Schedules: validation, DST-correct slots, permissions, tenancy, and the tick that fires them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, Schedule, utcnow
from galaxyco_ui.services import runs, schedules
from galaxyco_ui.services import team as team_service
from tests.factories import make_agent, set_columns

CRON_MESSAGE = "Use five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5."


def _schedule(ctx, agent_id: str, cron: str = "0 9 * * *", timezone: str = "UTC", **kw) -> str:  # type: ignore[no-untyped-def]
    return schedules.create_schedule(
        ctx=ctx, agent_id=agent_id, cron=cron, timezone=timezone, input=kw.pop("input", "Report"), **kw
    ).id


def _make_due(schedule_id: str, ago: timedelta = timedelta(minutes=1)) -> None:
    set_columns(Schedule, schedule_id, next_fire_at=utcnow() - ago)


def _load(schedule_id: str) -> Schedule:
    with session_scope() as session:
        schedule = session.get(Schedule, schedule_id)
        assert schedule is not None
        return schedule


def _runs_of(schedule_id: str) -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).where(Run.schedule_id == schedule_id)).all())


def _as_utc(at: datetime | None) -> datetime:
    assert at is not None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "@reboot", "0 9 * * * *", "0 25 * * *", ""])
def test_an_invalid_cron_expression_is_refused_with_a_message_on_the_cron_field(team, cron):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, cron=cron)

    assert caught.value.field_errors == {"cron": CRON_MESSAGE}


def test_an_unknown_time_zone_is_refused_with_a_message_on_the_timezone_field(team):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, timezone="Mars/Olympus")

    assert set(caught.value.field_errors) == {"timezone"}
    assert "IANA time zone" in caught.value.field_errors["timezone"]


def test_every_bad_field_is_reported_at_once(team):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, cron="@reboot", timezone="Mars/Olympus", input="  ")

    assert set(caught.value.field_errors) == {"cron", "timezone", "input"}


def test_an_empty_time_zone_means_utc_and_cron_whitespace_is_normalised(team):
    agent = make_agent(team.member)

    view = schedules.create_schedule(
        ctx=team.member, agent_id=agent.id, cron=" 0   9 * *  1-5 ", timezone="", input=" Report "
    )

    assert (view.cron, view.timezone, view.input) == ("0 9 * * 1-5", "UTC", "Report")


# ---------------------------------------------------------------- next fire times


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2025, 1, 15, 12, 0, tzinfo=UTC), datetime(2025, 1, 15, 14, 0, tzinfo=UTC)),  # EST, UTC-5
        (datetime(2025, 7, 15, 12, 0, tzinfo=UTC), datetime(2025, 7, 15, 13, 0, tzinfo=UTC)),  # EDT, UTC-4
    ],
)
def test_nine_am_in_new_york_is_fourteen_utc_in_winter_and_thirteen_utc_in_summer(after, expected):
    assert schedules.next_fire("0 9 * * *", "America/New_York", after) == expected


def test_next_fire_is_strictly_after_the_given_instant():
    slot = datetime(2025, 1, 15, 14, 0, tzinfo=UTC)

    assert schedules.next_fire("0 9 * * *", "America/New_York", slot) == slot + timedelta(days=1)


def test_a_slot_in_the_spring_forward_gap_fires_when_the_clocks_jump():
    # 02:30 does not exist in Paris on 2025-03-30 (02:00 CET jumps to 03:00 CEST).
    # croniter 7 fires at the jump, 03:00 CEST (01:00 UTC), like Vixie cron runs jobs of
    # the skipped hour: the day's run is not lost, and the next day is 02:30 again.
    before = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)

    first = schedules.next_fire("30 2 * * *", "Europe/Paris", before)
    second = schedules.next_fire("30 2 * * *", "Europe/Paris", first)

    assert first == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert second == datetime(2025, 3, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_a_daily_slot_in_the_repeated_autumn_hour_fires_once():
    # 02:30 happens twice in Paris on 2025-10-26 (03:00 CEST falls back to 02:00 CET).
    before = datetime(2025, 10, 25, 12, 0, tzinfo=UTC)

    first = schedules.next_fire("30 2 * * *", "Europe/Paris", before)
    second = schedules.next_fire("30 2 * * *", "Europe/Paris", first)

    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first pass
    assert second == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)  # tomorrow 02:30 CET, not the repeat


def test_an_every_half_hour_schedule_keeps_firing_through_the_repeated_hour():
    at = datetime(2025, 10, 25, 23, 50, tzinfo=UTC)  # 01:50 CEST
    fires = []
    for _ in range(4):
        at = schedules.next_fire("*/30 * * * *", "Europe/Paris", at)
        fires.append(at)

    assert [f - fires[0] for f in fires] == [timedelta(minutes=30 * i) for i in range(4)]


def test_the_view_lists_the_next_three_fires_in_the_schedules_zone(team):
    agent = make_agent(team.member)

    view = schedules.create_schedule(
        ctx=team.member, agent_id=agent.id, cron="0 9 * * *", timezone="America/New_York", input="Report"
    )

    assert len(view.next_fires) == 3
    days = [datetime.strptime(f.rsplit(",", 1)[0], "%a %d %b %Y").date() for f in view.next_fires]
    assert [(b - a).days for a, b in zip(days, days[1:], strict=False)] == [1, 1]
    for fire in view.next_fires:
        assert fire.endswith((", 09:00 EST", ", 09:00 EDT")), fire
    assert view.description == "At 09:00 AM"


def test_a_paused_schedule_has_no_next_fire(team):
    agent = make_agent(team.member)

    view = schedules.create_schedule(
        ctx=team.member, agent_id=agent.id, cron="0 9 * * *", timezone="UTC", input="Report", enabled=False
    )

    assert view.next_fires == [] and _load(view.id).next_fire_at is None


# ---------------------------------------------------------------- permissions and tenancy


def test_a_member_manages_their_own_schedules(team):
    agent = make_agent(team.member)
    schedule_id = _schedule(team.member, agent.id)

    paused = schedules.update_schedule(
        ctx=team.member,
        schedule_id=schedule_id,
        cron="*/5 * * * *",
        timezone="UTC",
        input="Hi",
        enabled=False,
    )
    assert paused.enabled is False and paused.can_edit is True
    schedules.delete_schedule(ctx=team.member, schedule_id=schedule_id)

    assert schedules.list_schedules(ctx=team.member, agent_id=agent.id) == []
    assert _load(schedule_id).deleted_at is not None


def test_a_member_cannot_edit_or_delete_someone_elses_schedule(team):
    agent = make_agent(team.admin)
    schedule_id = _schedule(team.admin, agent.id)

    with pytest.raises(PermissionDeniedError):
        schedules.update_schedule(
            ctx=team.member,
            schedule_id=schedule_id,
            cron="0 9 * * *",
            timezone="UTC",
            input="x",
            enabled=False,
        )
    with pytest.raises(PermissionDeniedError):
        schedules.delete_schedule(ctx=team.member, schedule_id=schedule_id)

    [view] = schedules.list_schedules(ctx=team.member, agent_id=agent.id)
    assert view.enabled is True and view.can_edit is False


def test_an_admin_edits_and_deletes_any_schedule(team):
    agent = make_agent(team.member)
    schedule_id = _schedule(team.member, agent.id)

    view = schedules.update_schedule(
        ctx=team.admin, schedule_id=schedule_id, cron="0 8 * * *", timezone="UTC", input="x", enabled=True
    )
    assert view.cron == "0 8 * * *"
    schedules.delete_schedule(ctx=team.admin, schedule_id=schedule_id)

    assert schedules.list_schedules(ctx=team.admin, agent_id=agent.id) == []


def test_a_viewer_can_list_schedules_but_not_create_edit_or_delete_them(team):
    agent = make_agent(team.member)
    schedule_id = _schedule(team.member, agent.id)

    with pytest.raises(PermissionDeniedError):
        _schedule(team.viewer, agent.id)
    with pytest.raises(PermissionDeniedError):
        schedules.update_schedule(
            ctx=team.viewer,
            schedule_id=schedule_id,
            cron="0 9 * * *",
            timezone="UTC",
            input="x",
            enabled=False,
        )
    with pytest.raises(PermissionDeniedError):
        schedules.delete_schedule(ctx=team.viewer, schedule_id=schedule_id)

    [view] = schedules.list_schedules(ctx=team.viewer, agent_id=agent.id)
    assert view.id == schedule_id and view.can_edit is False


def test_a_foreign_workspaces_schedule_and_agent_are_not_found(team, other_team):
    foreign_agent = make_agent(other_team.member)
    foreign_id = _schedule(other_team.member, foreign_agent.id)

    with pytest.raises(NotFoundError):
        schedules.update_schedule(
            ctx=team.owner, schedule_id=foreign_id, cron="0 9 * * *", timezone="UTC", input="x", enabled=False
        )
    with pytest.raises(NotFoundError):
        schedules.delete_schedule(ctx=team.owner, schedule_id=foreign_id)
    with pytest.raises(NotFoundError):
        schedules.list_schedules(ctx=team.owner, agent_id=foreign_agent.id)
    with pytest.raises(NotFoundError):
        _schedule(team.owner, foreign_agent.id)

    assert _load(foreign_id).enabled is True and _load(foreign_id).deleted_at is None


# ---------------------------------------------------------------- claiming and the tick


def test_two_schedulers_claiming_at_once_never_both_win_a_slot(team):
    agent = make_agent(team.member)
    wins: dict[str, int] = {}
    for _ in range(20):
        fresh = [_schedule(team.member, agent.id, cron="* * * * *") for _ in range(3)]
        for schedule_id in fresh:
            _make_due(schedule_id)
        now = utcnow()
        barrier = threading.Barrier(2)
        results: list[list[str]] = [[], []]
        errors: list[BaseException] = []

        def scheduler(slot: int, now: datetime = now, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=5)
                results[slot] = [s.id for s, _ctx in schedules.claim_due(now)]
            except BaseException as exc:  # surfaced in the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert not errors, errors
        claimed = results[0] + results[1]
        assert sorted(claimed) == sorted(fresh), "every due slot is claimed exactly once"
        for schedule_id in claimed:
            wins[schedule_id] = wins.get(schedule_id, 0) + 1
    assert len(wins) == 60 and set(wins.values()) == {1}


def test_a_claim_moves_next_fire_into_the_future_and_returns_the_owners_context(team):
    agent = make_agent(team.member)
    schedule_id = _schedule(team.member, agent.id, cron="*/10 * * * *")
    _make_due(schedule_id)
    now = utcnow()

    [(schedule, ctx)] = schedules.claim_due(now)

    assert schedule.id == schedule_id
    assert ctx is not None and (ctx.user_id, ctx.role) == (team.member.user_id, team.member.role)
    assert _as_utc(_load(schedule_id).next_fire_at) > now
    assert schedules.claim_due(now) == []


async def test_a_schedule_missed_for_three_days_fires_once_and_moves_on(team, engine):
    agent = make_agent(team.member)
    schedule_id = _schedule(team.member, agent.id, cron="0 * * * *")  # 72 missed hourly slots
    _make_due(schedule_id, ago=timedelta(days=3))
    now = utcnow()

    started = await schedules.tick(now)
    again = await schedules.tick(now)

    assert len(started) == 1 and again == []
    assert [r.id for r in _runs_of(schedule_id)] == started
    schedule = _load(schedule_id)
    assert now < _as_utc(schedule.next_fire_at) <= now + timedelta(hours=1)
    assert _as_utc(schedule.last_fired_at) == now
    await engine(started[0])


async def test_tick_starts_a_scheduled_run_that_executes_and_is_recorded(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("Scheduled hello."), usage(4, 3)]))
    schedule_id = _schedule(team.member, agent.id, cron="*/15 * * * *", input="Say hello on schedule")
    _make_due(schedule_id)

    [run_id] = await schedules.tick()
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    assert (run.trigger, run.schedule_id, run.created_by) == ("schedule", schedule_id, team.member.user_id)
    assert run.input == "Say hello on schedule" and run.output == "Scheduled hello."
    [view] = schedules.list_schedules(ctx=team.viewer, agent_id=agent.id)
    assert view.last_run_id == run_id and view.last_fired_at is not None
    assert runs.list_runs(ctx=team.viewer, trigger="schedule").runs[0].id == run_id


async def test_a_schedule_whose_creator_left_is_disabled_with_a_reason_and_starts_nothing(team, engine):
    agent = make_agent(team.admin)
    schedule_id = _schedule(team.member, agent.id)
    team_service.leave_workspace(ctx=team.member)
    _make_due(schedule_id)

    started = await schedules.tick()

    assert started == []
    assert _runs_of(schedule_id) == []
    schedule = _load(schedule_id)
    assert schedule.enabled is False and schedule.next_fire_at is None
    assert "left the workspace" in schedule.meta["disabled_reason"]
    assert await schedules.tick() == []


async def test_a_paused_or_deleted_schedule_never_fires(team, engine):
    agent = make_agent(team.member)
    paused = _schedule(team.member, agent.id)
    deleted = _schedule(team.member, agent.id)
    set_columns(Schedule, paused, enabled=False)
    schedules.delete_schedule(ctx=team.member, schedule_id=deleted)
    for schedule_id in (paused, deleted):
        _make_due(schedule_id)

    assert await schedules.tick() == []


# ---------------------------------------------------------------- hostile input (found by tests/fuzz)


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "59 23 31 4,6,9,11 *"])
def test_a_cron_expression_that_never_fires_is_refused_not_a_crash(team, cron):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, cron=cron)

    assert caught.value.field_errors == {"cron": schedules.NEVER_FIRES}


@pytest.mark.parametrize(
    "timezone", ["Europe", "America/", "x" * 300, "posix/Europe/Paris", "UTC\x00", "UTC\ud800"]
)
def test_a_time_zone_that_is_not_an_iana_zone_name_is_refused_not_a_crash(team, timezone):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, timezone=timezone)

    assert "timezone" in caught.value.field_errors


def test_a_schedule_input_with_a_nul_character_is_refused_before_the_database(team):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, input="Report\x00")

    assert "NUL" in caught.value.field_errors["input"]
    assert schedules.list_schedules(ctx=team.member, agent_id=agent.id) == []


@pytest.mark.parametrize("enabled", ["false", None, 1])
def test_a_schedule_is_enabled_only_by_a_real_boolean(team, enabled):
    agent = make_agent(team.member)

    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, enabled=enabled)

    assert "enabled" in caught.value.field_errors
