"""Whoever executes runs: are workers there, and the sweep that recovers runs they dropped.

Nothing here is tenant data: it spans every workspace, so no ``TenantContext`` is taken
(the banner's state calls ``worker_presence`` for a signed-in member; it says only
whether a worker is about).

- ``worker_presence``: in the scale-out mode, whether a worker has said it is alive
  within ``NO_WORKER_WARNING_SECONDS`` (``jobs.worker``: every worker records itself in
  Redis every few seconds). Without one, queued runs wait, and /runs says so. The
  embedded mode executes runs in the app process: never missing.
- ``recover_runs``: fail runs whose executor stopped heartbeating (a killed worker) as
  "worker lost", telling their watchers, and enqueue again runs left ``queued`` longer
  than ``REQUEUE_AFTER`` (their job was lost with a Redis restart, or failed before it
  could claim the run). Workers call it from their tick; the app process calls it
  too (``recovery_loop``), so the only worker dying does not leave its runs ``running``
  until another starts. It also denies, as timed out, tool calls whose approval timeout
  has passed, and queues their runs to resume (``services.approvals``). Waiting runs have
  no heartbeat and are never failed as lost. Every step is a compare-and-set or an
  idempotent enqueue, so any number of processes may run it at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from galaxyco_ui import notifications
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra import metrics
from galaxyco_ui.jobs import get_job_queue
from galaxyco_ui.runs import store
from galaxyco_ui.runs.events import get_event_bus, run_stream, workspace_stream
from galaxyco_ui.runs.executor import enqueue_run
from galaxyco_ui.services.approvals import expire_due_approvals

log = logging.getLogger("galaxyco.workers")
RECOVERY_SECONDS = 5.0  # how often the app process sweeps
REQUEUE_AFTER = timedelta(
    seconds=60
)  # a run queued this long is enqueued again (a no-op if its job is there)
REQUEUE_EVERY_SECONDS = 30.0  # at most this often per process: each pass is one enqueue per waiting run


@dataclass(frozen=True, slots=True)
class WorkerPresence:
    """Whether runs wait for a worker that is not there.

    Attributes:
        scale_out: runs are executed by workers (Redis); False: by this process.
        missing: scale-out mode, and no worker seen for ``NO_WORKER_WARNING_SECONDS``.
        threshold_seconds: that threshold, for the message.
    """

    scale_out: bool
    missing: bool
    threshold_seconds: int

    @property
    def message(self) -> str:
        if not self.missing:
            return ""
        return (
            f"No worker has picked up runs for {self.threshold_seconds} s: queued runs wait until one "
            "starts. Ask your operator."
        )


async def worker_presence() -> WorkerPresence:
    """Is a worker taking runs? (Redis unreachable: not claimed missing; the health check says so.)"""
    settings = get_settings()
    threshold = settings.no_worker_warning_seconds
    if not settings.redis_url:
        return WorkerPresence(scale_out=False, missing=False, threshold_seconds=threshold)
    try:
        seen = await get_job_queue().seconds_since_worker_seen()
    except Exception:
        log.warning("could not read worker presence", exc_info=True)
        return WorkerPresence(scale_out=True, missing=False, threshold_seconds=threshold)
    missing = seen is None or seen >= threshold
    return WorkerPresence(scale_out=True, missing=missing, threshold_seconds=threshold)


_last_requeue = 0.0


async def recover_runs(*, requeue: bool = True) -> tuple[list[str], list[str]]:
    """Fail lost runs and enqueue forgotten ones again. Returns (failed ids, re-enqueued ids).

    ``requeue`` False skips the second part (it runs at most every
    ``REQUEUE_EVERY_SECONDS`` per process anyway).
    """
    global _last_requeue
    notices: list[notifications.Announcement] = []
    lost = await asyncio.to_thread(
        functools.partial(
            store.sweep_lost_runs,
            stale_after=timedelta(seconds=get_settings().worker_lost_after_seconds),
            notices=notices,
        )
    )
    await notifications.announce_all(notices)
    bus = get_event_bus()
    for run_id, workspace_id in lost:
        metrics.run_finished("failed")
        log.warning("run failed as worker lost", extra={"run_id": run_id, "workspace_id": workspace_id})
        await bus.publish(run_stream(run_id), "final", {"status": "failed", "error": store.WORKER_LOST})
        await bus.publish(workspace_stream(workspace_id), "run", {"run_id": run_id, "status": "failed"})
    try:  # tool calls nobody decided in time: denied as timed out, their runs resume
        await expire_due_approvals()
    except Exception:
        log.exception("approval timeout sweep failed")
    requeued: list[str] = []
    if requeue and time.monotonic() - _last_requeue >= REQUEUE_EVERY_SECONDS:
        _last_requeue = time.monotonic()
        requeued = await asyncio.to_thread(store.waiting_runs, queued_before=REQUEUE_AFTER)
        for run_id in requeued:
            await enqueue_run(run_id)
        if requeued:
            log.info("waiting runs enqueued again", extra={"count": len(requeued)})
    return [run_id for run_id, _ in lost], requeued


def reset_recovery() -> None:
    """Forget when this process last enqueued waiting runs again (tests)."""
    global _last_requeue
    _last_requeue = 0.0


async def recovery_loop(interval: float = RECOVERY_SECONDS) -> None:
    """``recover_runs`` forever (the app process in the scale-out mode)."""
    while True:
        try:
            await recover_runs()
        except Exception:  # the database or Redis away for a moment: the next turn tries again
            log.exception("run recovery sweep failed")
        await asyncio.sleep(interval)
