"""Background work in tests: whatever executes queued runs and ingestion jobs.

In the embedded mode the queue runs them as tasks of the test's event loop; with
TEST_REDIS_URL a real SAQ worker (the same one ``python -m galaxyco_ui.runs.worker``
starts) runs in the same loop, so both paths are exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from galaxyco_ui.models import ItemStatus, KnowledgeItem, Run
from galaxyco_ui.models.runs import TERMINAL_STATUSES


@pytest.fixture
async def engine() -> AsyncIterator[Callable[[str], Awaitable[Run]]]:
    """Executes queued runs and jobs; yields ``wait(run_id)`` → the run once it is terminal."""
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
    await close_job_queue()
    await close_async_redis()


@pytest.fixture
def ingested(engine: Callable[[str], Awaitable[Run]]) -> Callable[..., Awaitable[KnowledgeItem]]:
    """``await ingested(item_id)`` → the item once ingestion has finished (ready or failed)."""

    async def wait(item_id: str, timeout: float = 20.0) -> KnowledgeItem:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with session_scope() as session:
                item = session.get(KnowledgeItem, item_id)
                assert item is not None, f"item {item_id} is gone"
                if item.status in (ItemStatus.READY, ItemStatus.FAILED):
                    return item
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"item {item_id} still {item.status} after {timeout} s")
            await asyncio.sleep(0.02)

    return wait
