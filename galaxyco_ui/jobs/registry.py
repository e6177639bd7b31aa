"""The job registry: every background job by name, declared where its work lives.

A feature registers a job with ``@job("name")`` on an async function that takes only
keyword arguments, ids and other small JSON values (the job reloads everything else, and
must be idempotent: a job may run twice). The queue (``jobs.queue``) looks jobs up here
when they are enqueued (embedded) and the worker builds its function list from here
(SAQ), so a job's name is written once, in its decorator.

Registration happens when the feature's module is imported. The modules that register
jobs are listed in ``galaxyco_ui.job_catalog``, which the app and the worker import at
startup; nothing in ``jobs/`` imports a feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

JobFunction = Callable[..., Awaitable[object]]
F = TypeVar("F", bound=JobFunction)

RUNS_POOL = "runs"  # agent runs: RUN_CONCURRENCY at once in the embedded mode
BACKGROUND_POOL = "background"  # everything else: KNOWLEDGE_INGEST_CONCURRENCY at once
JOB_TIMEOUT_SECONDS = 30 * 60  # a background job (ingesting a large document) gives up after this


def default_options() -> dict[str, Any]:
    """SAQ's per-job settings for a background job: retried twice, given up after 30 min."""
    return {"timeout": JOB_TIMEOUT_SECONDS, "retries": 2}


@dataclass(frozen=True, slots=True)
class Job:
    """One registered job.

    Attributes:
        name: the name callers enqueue and SAQ stores with each job.
        function: ``await function(**kwargs)`` does the work.
        pool: the embedded queue's concurrency limit it counts against.
        options: SAQ enqueue settings (timeout, heartbeat, retries), read at each enqueue
            so they follow the current settings.
    """

    name: str
    function: JobFunction
    pool: str = BACKGROUND_POOL
    options: Callable[[], dict[str, Any]] = default_options


_JOBS: dict[str, Job] = {}


def job(
    name: str, *, pool: str = BACKGROUND_POOL, options: Callable[[], dict[str, Any]] = default_options
) -> Callable[[F], F]:
    """Register the decorated function as the job ``name`` (returned unchanged)."""

    def register(function: F) -> F:
        existing = _JOBS.get(name)
        if existing is not None and existing.function is not function:
            raise ValueError(f"two jobs are registered as {name!r}")
        _JOBS[name] = Job(name=name, function=function, pool=pool, options=options)
        return function

    return register


def get_job(name: str) -> Job:
    """The job registered as ``name``.

    Raises:
        LookupError: nothing registered it (its module is missing from ``job_catalog``).
    """
    try:
        return _JOBS[name]
    except KeyError:
        raise LookupError(
            f"no job is registered as {name!r}: is its module listed in galaxyco_ui.job_catalog?"
        ) from None


def registered_jobs() -> list[Job]:
    """Every registered job, by name."""
    return [_JOBS[name] for name in sorted(_JOBS)]


def replace_function(name: str, function: JobFunction) -> JobFunction:
    """Swap a job's function and return the old one (benchmarks wrap jobs in timers)."""
    old = get_job(name)
    _JOBS[name] = Job(name=name, function=function, pool=old.pool, options=old.options)
    return old.function
