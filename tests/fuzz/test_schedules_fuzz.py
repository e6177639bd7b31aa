"""Fuzz: cron strings, time zones and inputs through create_schedule and update_schedule."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import schedules
from galaxyco_ui.services.validation import text_problem
from tests.factories import make_agent, make_team
from tests.fuzz.support import fuzz, hostile_text, json_values, mostly, outcome, workspace_snapshot

_token = st.one_of(
    st.sampled_from(
        ["*", "*/5", "?", "L", "W", "1W", "5#3", "5L", "H", "H/2", "LW", "JAN", "mon-fri", "SUN,SAT"]
    ),
    st.integers(-5, 100).map(str),
    st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)).map(lambda r: f"{r[0]}-{r[1]}"),  # huge ranges
    st.tuples(st.integers(0, 70), st.integers(-1, 10**9)).map(lambda r: f"{r[0]}/{r[1]}"),
    st.lists(st.integers(0, 60).map(str), min_size=2, max_size=5).map(",".join),
    hostile_text(12),
)
# Well-formed five-field expressions, including days that never come (31 February).
_field = st.one_of(
    st.sampled_from(["*", "*/5", "*/15", "0", "30", "1-5", "MON-FRI", "L", "1W", "5#3", "?"]),
    st.integers(0, 31).map(str),
    st.tuples(st.integers(0, 12), st.integers(0, 31)).map(lambda r: f"{r[0]}-{r[1]}"),
)
well_formed = st.tuples(
    st.integers(0, 59).map(str) | _field,
    st.integers(0, 23).map(str) | _field,
    st.integers(1, 31).map(str) | _field,
    st.integers(1, 12).map(str) | _field,
    st.integers(0, 7).map(str) | _field,
).map(" ".join)
# Valid fields, combined into days that may never come (31 February).
valid_cron = st.tuples(
    st.sampled_from(["*", "*/15", "0", "30"]) | st.integers(0, 59).map(str),
    st.sampled_from(["*", "*/2", "9", "1-5"]) | st.integers(0, 23).map(str),
    st.sampled_from(["*", "1", "15", "L", "29", "30", "31", "1W"]),
    st.sampled_from(["*", "2", "1-6", "JAN", "4,6"]),
    st.sampled_from(["*", "1-5", "MON-FRI", "0", "5#3", "7"]),
).map(" ".join)
crons = mostly(
    valid_cron,
    st.one_of(
        well_formed,
        st.lists(_token, min_size=0, max_size=7).map(" ".join),
        st.sampled_from(["0 0 31 2 *", "0 0 30 2 *", "59 23 31 4,6,9,11 *", "@daily", "@reboot"]),
        hostile_text(60),
        json_values(),
    ),
)
zones = mostly(
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", ""]),
    st.one_of(
        st.sampled_from(
            [
                "utc",
                "Europe",
                "Europe/",
                "posix/Europe/Paris",
                "right/UTC",
                "../../../../etc/passwd",
                "/etc/localtime",
                "Mars/Olympus_Mons",
                "Etc/GMT+14",
                "GMT-0",
                " Europe/Paris ",
                "x" * 300,
            ]
        ),
        hostile_text(40),
        json_values(),
    ),
)
inputs = mostly(
    st.sampled_from(["Send the weekly report.", "  Summarise\n<b>news</b> [x](javascript:1)  "]),
    hostile_text(200) | json_values(),
    tenths=5,
)
ids = mostly(st.just("OWN"), hostile_text(40) | st.integers())
enabled_flags = mostly(st.booleans(), json_values(), tenths=9)


def _check_saved(view: schedules.ScheduleView, cron: object, timezone: object, text: object) -> None:
    assert isinstance(cron, str) and isinstance(timezone, str) and isinstance(text, str)
    assert view.cron == " ".join(cron.split())
    assert view.timezone == (timezone.strip() or "UTC")
    assert view.input == text.strip()
    assert view.enabled is False or len(view.next_fires) == 3
    for value in (view.cron, view.timezone, view.input):
        assert text_problem(value) is None


@fuzz(250)
@given(crons, zones, inputs, enabled_flags)
def test_create_schedule_with_hostile_cron_zone_or_input_saves_it_or_refuses_cleanly(
    cron, timezone, text, enabled
):
    team = make_team()
    agent = make_agent(team.member)
    before = workspace_snapshot(team.workspace_id)

    view, error = outcome(
        lambda: schedules.create_schedule(
            ctx=team.member, agent_id=agent.id, cron=cron, timezone=timezone, input=text, enabled=enabled
        )
    )

    if error is not None:
        assert isinstance(error, ValidationError), error
        assert workspace_snapshot(team.workspace_id) == before, "a refused schedule wrote something"
        return
    _check_saved(view, cron, timezone, text)
    assert schedules.list_schedules(ctx=team.member, agent_id=agent.id) == [view]
    if enabled is True:  # the slot it will fire at exists and lies ahead
        fire_at = schedules.next_fire(view.cron, view.timezone, datetime.now(UTC))
        assert fire_at > datetime.now(UTC)


@fuzz(100)
@given(crons, zones, inputs, ids)
def test_update_schedule_with_hostile_values_or_ids_changes_it_or_nothing(cron, timezone, text, schedule_id):
    team = make_team()
    agent = make_agent(team.member)
    own = schedules.create_schedule(
        ctx=team.member, agent_id=agent.id, cron="0 9 * * 1-5", timezone="Europe/Paris", input="Report"
    )
    target = own.id if schedule_id == "OWN" else schedule_id
    before = workspace_snapshot(team.workspace_id)

    view, error = outcome(
        lambda: schedules.update_schedule(
            ctx=team.member, schedule_id=target, cron=cron, timezone=timezone, input=text, enabled=True
        )
    )

    if error is not None:
        assert isinstance(error, ValidationError | NotFoundError), error
        assert workspace_snapshot(team.workspace_id) == before, "a refused update wrote something"
        return
    _check_saved(view, cron, timezone, text)
    assert schedules.list_schedules(ctx=team.member, agent_id=agent.id) == [view]
