"""The run worker for the scale-out mode: ``python -m galaxyco_ui.runs.worker``.

Start any number of these (on any machines) next to the app processes, all with the
same ``DATABASE_URL`` and ``REDIS_URL``. Each executes the registered jobs (queued runs,
knowledge ingestion: ``galaxyco_ui.job_catalog``) from the SAQ queue, up to
``RUN_CONCURRENCY`` at a time, and runs the
scheduler tick every few seconds: due schedules fire (claimed atomically, so several
workers never double-fire), runs whose worker died are failed as "worker lost" and
webhook deliveries whose next attempt is due are enqueued.
On SIGTERM or SIGINT it drains (``jobs.worker.JobWorker.drain``): it takes no new job,
lets its running runs finish for up to ``WORKER_SHUTDOWN_GRACE_SECONDS``, fails the
ones still running with a "shut down" message (never starting them again: their tool
calls may have had effects), hands back any job it took but had not started, and exits.
While it runs it records its presence in Redis every few seconds; the app tells users
when no worker has been seen for ``NO_WORKER_WARNING_SECONDS``.
Knowledge maintenance (index optimize, stalled items) runs every
``KNOWLEDGE_MAINTENANCE_SECONDS`` and the providers' reachability check every
``PROVIDER_REACHABILITY_CHECK_SECONDS``, each in one worker at a time (a Redis lock).

This module is an entry point (the app imports ``scheduler_loop`` from it too): like
``galaxyco_ui.py`` it wires the layers together, so it may import the services.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import sys

from galaxyco_ui import job_catalog  # noqa: F401  (registers every job before the worker lists them)
from galaxyco_ui.config import check_startup_settings, get_settings
from galaxyco_ui.infra.logging import configure_logging
from galaxyco_ui.infra.redis import get_async_redis
from galaxyco_ui.infra.sentry import init_sentry
from galaxyco_ui.infra.tracing import configure_tracing
from galaxyco_ui.jobs.worker import JobWorker
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


def build_worker(concurrency: int | None = None, *, shutdown_grace_seconds: int = 0) -> JobWorker:
    """The SAQ worker; ``shutdown_grace_seconds`` is how long a plain ``stop()`` waits for jobs."""
    settings = get_settings()
    return JobWorker.from_url(
        settings.redis_url,
        concurrency=concurrency or settings.run_concurrency,
        stop_grace_seconds=shutdown_grace_seconds,
    )


async def run_worker() -> None:
    """Run the SAQ worker and the scheduler tick until SIGTERM or SIGINT, then drain.

    The first signal starts the drain (see the module docstring); later ones are logged
    and ignored, so an impatient second Ctrl-C does not cut the runs' grace short.
    """
    worker = build_worker()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    background = [
        asyncio.create_task(scheduler_loop()),
        asyncio.create_task(knowledge_maintenance_loop()),
        asyncio.create_task(reachability_loop()),
    ]
    taking = asyncio.create_task(worker.start())
    log.info("worker started", extra={"concurrency": worker.concurrency, "worker_id": worker.worker_id})
    try:
        await asyncio.wait(
            [taking, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        log.info("worker stopping", extra={"running": worker.running_jobs})
        for task in background:  # no new scheduled runs from a worker on its way out
            task.cancel()
        await worker.drain(get_settings().worker_shutdown_grace_seconds)
    finally:
        for task in (*background, taking):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker.queue.disconnect()
        extract.discard_pool(kill=True)  # its processes may still be starting: do not wait for them
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
    # Everything has stopped: run the exit hooks (metrics files) and leave without the
    # interpreter's teardown, which spends seconds collecting a large heap on a busy box.
    atexit._run_exitfuncs()
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
