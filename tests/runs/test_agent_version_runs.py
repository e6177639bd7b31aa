"""Runs record the agent version they ran; a pinned run uses that version's configuration."""

from __future__ import annotations

import pytest

from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import runs, schedules
from tests.factories import edit_agent, make_agent
from tests.runs.test_run_services import count_runs, load_run
from tests.runs.test_schedules import _make_due, _schedule


async def test_a_run_records_the_latest_version_and_its_configuration(wired, engine):
    team, agent = wired
    edit_agent(team.member, agent.id, instructions="Second instructions")

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")

    run = load_run(view.id)
    assert (view.agent_version, run.agent_version) == (2, 2)
    assert run.agent_snapshot["instructions"] == "Second instructions"
    await engine(view.id)


async def test_a_pinned_run_uses_that_versions_configuration_not_the_live_agent(wired, engine):
    team, agent = wired
    edit_agent(team.member, agent.id, instructions="Changed later", max_steps=2, model="other-model")

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi", version=1)

    run = load_run(view.id)
    assert run.agent_version == 1
    assert run.agent_snapshot["instructions"] == agent.instructions
    assert (run.agent_snapshot["max_steps"], run.agent_snapshot["model"]) == (agent.max_steps, agent.model)
    assert view.model == agent.model
    finished = await engine(view.id)
    assert finished.status == "succeeded", finished.error


async def test_a_retry_runs_the_same_version_again(wired, engine):
    team, agent = wired
    edit_agent(team.member, agent.id, instructions="Two")
    first = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi", version=1)
    await engine(first.id)
    edit_agent(team.member, agent.id, instructions="Three")

    again = await runs.retry_run(ctx=team.member, run_id=first.id)

    assert load_run(again.id).agent_version == 1
    assert load_run(again.id).agent_snapshot["instructions"] == agent.instructions
    await engine(again.id)


@pytest.mark.parametrize("number", [3, 999])
async def test_a_version_the_agent_does_not_have_starts_nothing(wired, number):
    team, agent = wired
    edit_agent(team.member, agent.id, instructions="Two")

    with pytest.raises(NotFoundError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi", version=number)

    assert f"Version {number} of that agent" in caught.value.message
    assert count_runs(team.workspace_id) == 0


@pytest.mark.parametrize("number", [0, -2, True, "1"])
async def test_a_version_that_is_not_a_positive_number_is_refused(wired, number):
    team, agent = wired
    with pytest.raises(ValidationError) as caught:
        await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi", version=number)
    assert "version" in caught.value.field_errors
    assert count_runs(team.workspace_id) == 0


async def test_another_workspaces_agent_version_cannot_be_pinned(wired, other_team):
    team, _agent = wired
    foreign = make_agent(other_team.member)

    with pytest.raises(NotFoundError):
        await runs.start_run(ctx=team.member, agent_id=foreign.id, input="Hi", version=1)
    assert count_runs(team.workspace_id) == count_runs(other_team.workspace_id) == 0


# ---------------------------------------------------------------- schedules


async def test_a_schedule_runs_the_latest_version_unless_pinned(wired, engine):
    team, agent = wired
    latest = _schedule(team.member, agent.id)
    pinned = _schedule(team.member, agent.id, agent_version=1)
    edit_agent(team.member, agent.id, instructions="Second")
    _make_due(latest)
    _make_due(pinned)

    started = await schedules.tick()

    by_schedule = {load_run(run_id).schedule_id: load_run(run_id) for run_id in started}
    assert by_schedule[latest].agent_version == 2
    assert by_schedule[latest].agent_snapshot["instructions"] == "Second"
    assert by_schedule[pinned].agent_version == 1
    assert by_schedule[pinned].agent_snapshot["instructions"] == agent.instructions
    assert schedules.get_schedule(ctx=team.viewer, schedule_id=pinned).agent_version == 1
    for run_id in started:
        await engine(run_id)


@pytest.mark.parametrize("version", [2, 0, -1, True, "1"])
def test_a_schedule_pinned_to_a_version_the_agent_lacks_is_refused(team, version):
    agent = make_agent(team.member)
    with pytest.raises(ValidationError) as caught:
        _schedule(team.member, agent.id, agent_version=version)
    assert "agent_version" in caught.value.field_errors


def test_editing_a_schedule_keeps_pins_or_unpins_its_version(team):
    agent = make_agent(team.member)
    edit_agent(team.member, agent.id, instructions="Second")
    schedule_id = _schedule(team.member, agent.id, agent_version=1)
    fields = {"cron": "0 9 * * *", "timezone": "UTC", "input": "Report", "enabled": False}

    kept = schedules.update_schedule(ctx=team.member, schedule_id=schedule_id, **fields)
    moved = schedules.update_schedule(ctx=team.member, schedule_id=schedule_id, agent_version=2, **fields)
    latest = schedules.update_schedule(ctx=team.member, schedule_id=schedule_id, agent_version=None, **fields)

    assert (kept.agent_version, moved.agent_version, latest.agent_version) == (1, 2, None)
    with pytest.raises(ValidationError):
        schedules.update_schedule(ctx=team.member, schedule_id=schedule_id, agent_version=3, **fields)
