"""The job registry: one name per job, the same list for the app and the worker."""

from __future__ import annotations

import pytest

from galaxyco_ui import job_catalog  # noqa: F401  (what the app and the worker import at startup)
from galaxyco_ui.jobs import BACKGROUND_POOL, RUNS_POOL, get_job, job, registered_jobs
from galaxyco_ui.jobs.queue import EmbeddedJobQueue, saq_functions
from galaxyco_ui.knowledge.ingest import ingest_item, optimize_workspace
from galaxyco_ui.runs.executor import execute_run


def test_the_catalog_registers_every_job_under_its_enqueued_name() -> None:
    jobs = {spec.name: spec for spec in registered_jobs()}
    assert jobs["execute_run_job"].function is execute_run
    assert jobs["ingest_item_job"].function is ingest_item
    assert jobs["optimize_workspace_job"].function is optimize_workspace
    assert jobs["execute_run_job"].pool == RUNS_POOL
    assert jobs["ingest_item_job"].pool == jobs["optimize_workspace_job"].pool == BACKGROUND_POOL


def test_the_worker_serves_exactly_the_registered_jobs() -> None:
    assert [name for name, _ in saq_functions()] == [spec.name for spec in registered_jobs()]


def test_a_run_job_keeps_its_saq_settings_and_other_jobs_get_the_defaults() -> None:
    run_options = get_job("execute_run_job").options()
    assert run_options["retries"] == 1 and "heartbeat" in run_options
    assert get_job("ingest_item_job").options() == {"timeout": 30 * 60, "retries": 2}


def test_a_second_job_under_a_taken_name_is_refused() -> None:
    async def other(**_: object) -> None:
        return None

    with pytest.raises(ValueError, match="execute_run_job"):
        job("execute_run_job")(other)
    assert get_job("execute_run_job").function is execute_run


async def test_enqueueing_an_unregistered_job_says_where_to_register_it() -> None:
    queue = EmbeddedJobQueue({RUNS_POOL: 1, BACKGROUND_POOL: 1})
    with pytest.raises(LookupError, match="job_catalog"):
        await queue.enqueue("no_such_job", key="k")
    await queue.drain()
