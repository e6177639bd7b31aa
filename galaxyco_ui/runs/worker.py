"""The run worker for the scale-out mode: ``python -m galaxyco_ui.runs.worker``.

Start any number of these (on any machines) next to the app processes, all with the
same ``DATABASE_URL`` and ``REDIS_URL``. Each executes queued runs and knowledge
ingestion jobs from the SAQ queue, up to ``RUN_CONCURRENCY`` at a time, and runs the
scheduler tick every few seconds: due schedules fire (claimed atomically, so several
workers never double-fire) and runs whose worker died are failed as "worker lost".
Knowledge maintenance (index optimize, stalled items) runs every
``KNOWLEDGE_MAINTENANCE_SECONDS`` in one worker at a time (a Redis lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

from saq import Queue, Worker

from galaxyco_ui.config import check_startup_settings, get_settings
from galaxyco_ui.infra.logging import configure_logging
from galaxyco_ui.infra.sentry import init_sentry
from galaxyco_ui.knowledge.ingest import ingest_item, optimize_workspace
from galaxyco_ui.runs.executor import execute_run
from galaxyco_ui.runs.queue import QUEUE_NAME

log = logging.getLogger("galaxyco.worker")
TICK_SECONDS = 5.0


async def execute_run_job(ctx: dict[str, Any], *, run_id: str) -> str | None:
    """SAQ job: run one queued run (a run that is not queued any more is skipped)."""
    return await execute_run(run_id)


async def ingest_item_job(ctx: dict[str, Any], *, item_id: str) -> str | None:
    """SAQ job: parse, chunk and index one queued knowledge item."""
    return await ingest_item(item_id)


async def optimize_workspace_job(ctx: dict[str, Any], *, workspace_id: str) -> int:
    """SAQ job: optimize one workspace's knowledge index after new items were indexed."""
    return await optimize_workspace(workspace_id)


async def knowledge_maintenance_loop() -> None:
    """Knowledge maintenance, one worker at a time: whoever holds the lock does the pass."""
    from galaxyco_ui.infra.redis import get_async_redis
    from galaxyco_ui.knowledge import extract
    from galaxyco_ui.knowledge.ingest import maintain_once

    interval = get_settings().knowledge_maintenance_seconds
    await extract.warm_pool(get_settings().knowledge_ingest_concurrency)
    first = True
    while True:
        try:
            redis = get_async_redis()
            assert redis is not None, "the worker runs only with REDIS_URL"
            if await redis.set("galaxyco:knowledge:maintenance", "1", nx=True, ex=max(interval - 1, 1)):
                await maintain_once(include_queued=first)
            first = False
        except Exception:
            log.exception("knowledge maintenance failed")
        await asyncio.sleep(interval)


async def scheduler_loop(interval: float = TICK_SECONDS) -> None:
    """Fire due schedules and sweep lost runs, forever."""
    from galaxyco_ui.services.schedules import tick

    while True:
        try:
            started = await tick()
            if started:
                log.info("scheduled runs started", extra={"count": len(started)})
        except Exception:
            log.exception("scheduler tick failed")
        await asyncio.sleep(interval)


def build_worker(concurrency: int | None = None, *, shutdown_grace_seconds: int = 10) -> Worker:
    settings = get_settings()
    queue = Queue.from_url(settings.redis_url, name=QUEUE_NAME)
    return Worker(
        queue,
        functions=[execute_run_job, ingest_item_job, optimize_workspace_job],
        concurrency=concurrency or settings.run_concurrency,
        # SAQ's own sweep finds jobs whose worker stopped heartbeating.
        timers={"sweep": 5},
        shutdown_grace_period_s=shutdown_grace_seconds,
    )


async def run_worker() -> None:
    """Run the SAQ worker and the scheduler tick until SIGINT/SIGTERM.

    SAQ's ``Worker.start`` installs its own SIGINT/SIGTERM handlers and returns once it
    has shut down; the scheduler loop is stopped with it.
    """
    worker = build_worker()
    ticker = asyncio.create_task(scheduler_loop())
    maintenance = asyncio.create_task(knowledge_maintenance_loop())
    log.info("worker started", extra={"concurrency": worker.concurrency})
    try:
        await worker.start()
    finally:
        for task in (ticker, maintenance):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("worker stopped")


def main() -> None:
    settings = get_settings()
    check_startup_settings(settings)
    configure_logging()
    init_sentry()
    if not settings.redis_url:
        sys.exit("The worker needs REDIS_URL. In the embedded mode the app runs agents itself.")
    asyncio.run(run_worker())


if __name__ == "__main__":
    main()
