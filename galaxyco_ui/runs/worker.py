"""The run worker for the scale-out mode: ``python -m galaxyco_ui.runs.worker``.

Start any number of these (on any machines) next to the app processes, all with the
same ``DATABASE_URL`` and ``REDIS_URL``. Each executes the registered jobs (queued runs,
knowledge ingestion: ``galaxyco_ui.job_catalog``) from the SAQ queue, up to
``RUN_CONCURRENCY`` at a time, and runs the
scheduler tick every few seconds: due schedules fire (claimed atomically, so several
workers never double-fire), runs whose worker died are failed as "worker lost" and
webhook deliveries whose next attempt is due are enqueued.
Knowledge maintenance (index optimize, stalled items) runs every
``KNOWLEDGE_MAINTENANCE_SECONDS`` and the providers' reachability check every
``PROVIDER_REACHABILITY_CHECK_SECONDS``, each in one worker at a time (a Redis lock).

This module is an entry point (the app imports ``scheduler_loop`` from it too): like
``galaxyco_ui.py`` it wires the layers together, so it may import the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from saq import Queue, Worker
from saq.types import Context

from galaxyco_ui import job_catalog  # noqa: F401  (registers every job before the worker lists them)
from galaxyco_ui.config import check_startup_settings, get_settings
from galaxyco_ui.infra.logging import configure_logging
from galaxyco_ui.infra.redis import get_async_redis
from galaxyco_ui.infra.sentry import init_sentry
from galaxyco_ui.infra.tracing import configure_tracing
from galaxyco_ui.jobs.queue import QUEUE_NAME, saq_functions
from galaxyco_ui.knowledge import extract
from galaxyco_ui.knowledge.ingest import maintain_once
from galaxyco_ui.providers.reachability import reachability_loop
from galaxyco_ui.services.schedules import tick
from galaxyco_ui.webhooks.delivery import enqueue_due_deliveries

log = logging.getLogger("galaxyco.worker")
TICK_SECONDS = 5.0


async def knowledge_maintenance_loop() -> None:
    """Knowledge maintenance, one worker at a time: whoever holds the lock does the pass."""
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
    """Fire due schedules, sweep lost runs and enqueue due webhook retries, forever."""
    while True:
        try:
            started = await tick()
            if started:
                log.info("scheduled runs started", extra={"count": len(started)})
        except Exception:
            log.exception("scheduler tick failed")
        try:
            await enqueue_due_deliveries()
        except Exception:
            log.exception("webhook delivery sweep failed")
        await asyncio.sleep(interval)


def build_worker(concurrency: int | None = None, *, shutdown_grace_seconds: int = 10) -> Worker[Context]:
    settings = get_settings()
    queue = Queue.from_url(settings.redis_url, name=QUEUE_NAME)
    return Worker(
        queue,
        functions=saq_functions(),  # every registered job, by its registered name
        concurrency=concurrency or settings.run_concurrency,
        # SAQ's own sweep finds jobs whose worker stopped heartbeating. (saq 0.26's
        # PartialTimersDict inherits required keys, so a partial dict cannot type-check.)
        timers={"sweep": 5},  # type: ignore[arg-type]  # see the comment above
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
    reachability = asyncio.create_task(reachability_loop())
    log.info("worker started", extra={"concurrency": worker.concurrency})
    try:
        await worker.start()
    finally:
        for task in (ticker, maintenance, reachability):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("worker stopped")


def main() -> None:
    settings = get_settings()
    check_startup_settings(settings)
    configure_logging()
    init_sentry()
    configure_tracing()
    if not settings.redis_url:
        sys.exit("The worker needs REDIS_URL. In the embedded mode the app runs agents itself.")
    asyncio.run(run_worker())


if __name__ == "__main__":
    main()
