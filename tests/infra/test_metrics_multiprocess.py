"""Multiprocess mode: what worker processes count shows in the app's ``/metrics``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from galaxyco_ui.config import PROJECT_ROOT

TOKEN = "multiprocess-scrape-token"

WORKER = """
from galaxyco_ui.infra import metrics
metrics.run_started("schedule")
metrics.run_finished("succeeded", 3.0)
metrics.tokens("openai", 100, 20)
metrics.provider_error("openai", "rate_limit")
metrics.websocket_connected(+1)  # left open: the process's exit must take it back out
"""

APP = f"""
from starlette.testclient import TestClient
from galaxyco_ui.api import create_api
from galaxyco_ui.infra import metrics
metrics.run_started("manual")
metrics.websocket_connected(+1)  # still open while this process scrapes
with TestClient(create_api()) as client:
    response = client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}})
assert response.status_code == 200, response.status_code
print(response.text)
"""


def _python(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_apps_metrics_add_up_every_process_sharing_the_directory(tmp_path: Path) -> None:
    _python(WORKER, tmp_path)
    _python(WORKER, tmp_path)

    exposition = _python(APP, tmp_path)

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            samples.setdefault((sample.name, tuple(sorted(sample.labels.items()))), []).append(sample.value)
    assert samples[("galaxyco_runs_started_total", (("trigger", "schedule"),))] == [2]
    assert samples[("galaxyco_runs_started_total", (("trigger", "manual"),))] == [1]
    assert samples[("galaxyco_runs_finished_total", (("status", "succeeded"),))] == [2]
    assert samples[("galaxyco_run_duration_seconds_count", (("status", "succeeded"),))] == [2]
    assert samples[("galaxyco_run_duration_seconds_sum", (("status", "succeeded"),))] == [6]
    assert samples[("galaxyco_tokens_total", (("direction", "input"), ("provider", "openai")))] == [200]
    assert samples[("galaxyco_provider_errors_total", (("kind", "rate_limit"), ("provider", "openai")))] == [
        2
    ]
    assert samples[("galaxyco_websocket_clients", ())] == [1]  # the exited workers' connections are gone
    assert samples[("galaxyco_queue_depth", (("queue", "runs"),))] == [0]  # computed once, by the app
