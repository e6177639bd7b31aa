"""Background jobs: a registry of named jobs and the queue that runs them.

``@job("name")`` (``registry``) registers a job where its work lives; ``get_job_queue()``
(``queue``) enqueues it: asyncio tasks in the embedded mode, SAQ on Redis otherwise.
This package imports no feature (runs, knowledge, ...): features import it.
"""

from galaxyco_ui.jobs.queue import JobQueue, close_job_queue, get_job_queue, reset_job_queue
from galaxyco_ui.jobs.registry import BACKGROUND_POOL, RUNS_POOL, Job, get_job, job, registered_jobs

__all__ = [
    "BACKGROUND_POOL",
    "RUNS_POOL",
    "Job",
    "JobQueue",
    "close_job_queue",
    "get_job",
    "get_job_queue",
    "job",
    "registered_jobs",
    "reset_job_queue",
]
