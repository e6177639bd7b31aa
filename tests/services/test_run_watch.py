"""The Runs screen's live monitor: one reader per workspace per process, fanned out.

Runs on the in-process bus and, with TEST_REDIS_URL, on Redis Streams (one blocking
XREAD per watched workspace, whatever the number of watchers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from galaxyco_ui.infra import bus_watch
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.runs.events import get_event_bus, workspace_stream
from galaxyco_ui.services.run_watch import watch_workspace_runs
from tests.factories import Team


@pytest.fixture(autouse=True)
async def redis_closed() -> AsyncIterator[None]:
    yield
    await close_async_redis()


async def _run_changed(workspace_id: str) -> None:
    await get_event_bus().publish(
        workspace_stream(workspace_id), "run", {"run_id": "r1", "status": "running"}
    )


async def test_a_run_change_wakes_every_watcher_of_its_workspace_and_no_other(
    team: Team, other_team: Team
) -> None:
    async with (
        watch_workspace_runs(ctx=team.owner) as owner_tab,
        watch_workspace_runs(ctx=team.viewer) as viewer_tab,
        watch_workspace_runs(ctx=other_team.owner) as elsewhere,
    ):
        await _run_changed(team.workspace_id)  # right after the watches began: not missed
        assert await owner_tab.wait(5.0) is True
        assert await viewer_tab.wait(5.0) is True
        assert await elsewhere.wait(0.3) is False
        assert await owner_tab.wait(0.1) is False  # consumed

        await _run_changed(other_team.workspace_id)
        assert await elsewhere.wait(5.0) is True
        assert await owner_tab.wait(0.3) is False


async def test_many_tabs_of_a_workspace_share_one_reader_which_ends_with_the_last(team: Team) -> None:
    stream = workspace_stream(team.workspace_id)
    async with watch_workspace_runs(ctx=team.owner) as first:
        tabs = [watch_workspace_runs(ctx=team.member) for _ in range(50)]
        watches = [await tab.__aenter__() for tab in tabs]
        assert bus_watch.watcher_count(stream) == 51
        assert bus_watch.reader_count() == 1
        reader = bus_watch._readers[asyncio.get_running_loop()][stream].task

        await _run_changed(team.workspace_id)
        woken = await asyncio.gather(*(w.wait(5.0) for w in [first, *watches]))
        assert woken == [True] * 51
        for tab in tabs:
            await tab.__aexit__(None, None, None)
        assert bus_watch.watcher_count(stream) == 1
        assert not reader.done()
    assert bus_watch.watcher_count() == 0
    assert bus_watch.reader_count() == 0
    await asyncio.wait_for(reader, bus_watch.READ_WAIT_SECONDS + 2.0)  # ends on its own, not cancelled


async def test_a_watch_started_after_the_reader_ended_gets_a_new_reader(team: Team) -> None:
    async with watch_workspace_runs(ctx=team.owner):
        pass
    async with watch_workspace_runs(ctx=team.owner) as again:
        assert bus_watch.reader_count() == 1
        await _run_changed(team.workspace_id)
        assert await again.wait(5.0) is True
