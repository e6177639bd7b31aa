"""Run engine fixtures: an agent wired to the emulator, and whatever executes queued runs.

In the embedded mode the queue runs executors as tasks of the test's event loop; with
TEST_REDIS_URL a real SAQ worker runs in the same loop, so both paths are exercised.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.runs.events import RunEvent, get_event_bus, run_stream
from galaxyco_ui.services import provider_keys
from tests.factories import Team, make_agent

MODEL = "test-model"
ROOT = Path(__file__).resolve().parents[2]
WORKER_LOST_AFTER = 5


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


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m galaxyco_ui.runs.worker`` against the test database and Redis, with this
    environment (set what it needs first); always killed. Its output: ``tmp_path / "worker.log"``."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DATA_DIR"):
        env[name] = os.environ[name]
    env.setdefault("WORKER_LOST_AFTER_SECONDS", str(WORKER_LOST_AFTER))
    env.update(GALAXYCO_ENV="test", PYTHONUNBUFFERED="1")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "galaxyco_ui.runs.worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log.close()
