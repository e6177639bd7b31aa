"""Run engine fixtures: an agent wired to the emulator, and whatever executes queued runs.

In the embedded mode the queue runs executors as tasks of the test's event loop; with
TEST_REDIS_URL a real SAQ worker runs in the same loop, so both paths are exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from galaxyco_ui.config import get_settings
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.models import Run
from galaxyco_ui.models.runs import TERMINAL_STATUSES
from galaxyco_ui.runs.events import RunEvent, get_event_bus, run_stream
from galaxyco_ui.runs.queue import close_run_queue
from galaxyco_ui.services import provider_keys
from tests.factories import Team, make_agent

MODEL = "test-model"


@pytest.fixture
def wired(team: Team, emulator: Emulator):  # type: ignore[no-untyped-def]
    """``team`` with an OpenAI-compatible key pointing at the emulator, and a calculator agent."""
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai_compatible",
        api_key="emulator-key",
        base_url=emulator.openai_base_url,
    )
    agent = make_agent(
        team.member, name="Calc", provider="openai_compatible", model=MODEL, tools=["calculator"], max_steps=4
    )
    return team, agent


@pytest.fixture
async def engine() -> AsyncIterator[Callable[[str], Awaitable[Run]]]:
    """Executes queued runs; yields ``wait(run_id)`` → the run once it is terminal."""
    worker_task = None
    if get_settings().redis_url:
        from galaxyco_ui.runs.worker import build_worker

        worker = build_worker(concurrency=20, shutdown_grace_seconds=0)
        worker_task = asyncio.create_task(worker.start())

    async def wait(run_id: str, timeout: float = 15.0) -> Run:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with session_scope() as session:
                run = session.get(Run, run_id)
                assert run is not None
                if run.status in TERMINAL_STATUSES:
                    return run
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"run {run_id} still {run.status} after {timeout} s")
            await asyncio.sleep(0.02)

    yield wait
    if worker_task is not None:
        await worker.stop()
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker_task
        await worker.queue.disconnect()
    await close_run_queue()
    await close_async_redis()


async def events_of(run_id: str, timeout: float = 5.0) -> list[RunEvent]:
    """The run's events once its ``final`` event is out (it follows the database update)."""
    bus = get_event_bus()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await bus.read(run_stream(run_id), after=None)
        if any(e.type == "final" for e in events) or asyncio.get_running_loop().time() > deadline:
            await asyncio.sleep(0.05)  # the closing status event follows "final"
            return await bus.read(run_stream(run_id), after=None)
        await asyncio.sleep(0.02)
