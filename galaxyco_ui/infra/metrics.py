"""Prometheus metrics: every metric GalaxyCo exports, and one-line helpers the engines call.

    metrics.run_started("api")                 a run was queued (any trigger)
    metrics.run_finished("succeeded", 4.2)     a run reached a terminal state
    metrics.first_token("openai", 0.8)         a model turn streamed its first event
    metrics.tokens("openai", 1200, 300)        tokens a model turn used
    metrics.cost("openai", Decimal("0.004"))   what it cost (priced models only)
    metrics.provider_error("rate_limit")       a provider call failed (retried ones too)
    metrics.ingest_finished("ready", pages=12) a knowledge item was indexed (or failed)
    metrics.http_request(...)                  one HTTP request (api/http_metrics.py)
    metrics.websocket_connected(+1 / -1)       a browser's websocket opened / closed

Labels never carry workspace, user, run or agent ids: only small closed sets (trigger,
status, provider, error kind, method, route template, status class). ``_label`` folds
anything unexpected into ``other`` so a bug cannot explode the series count.

**Across processes.** When ``PROMETHEUS_MULTIPROC_DIR`` names a directory shared by the
app processes and the SAQ workers of one host, ``prometheus_client`` keeps every value in
a per-process file there and ``render()`` (the app's ``/metrics``) adds them all up, so
one scrape shows the runs the workers executed. Without it each process counts for
itself, which is right for the embedded mode (one process runs everything). The directory
must be emptied before the processes start (see docs/operations.md). ``prometheus_client``
reads the variable itself when it is imported; ``config.py`` declares it too so that it is
documented and this module can find the directory.

Gauges computed when scraped (queue depth and age) are not defined here: the process that
serves ``/metrics`` registers them with ``add_scrape_collector``.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from galaxyco_ui.config import get_settings

log = logging.getLogger("galaxyco.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # no ``*_created`` series: multiprocess mode has none either

# Every GalaxyCo metric lives in this registry (never the library's global one, which
# other packages may fill); in multiprocess mode its values go to the shared directory.
REGISTRY = CollectorRegistry(auto_describe=True)

RUNS_STARTED = Counter(
    "galaxyco_runs_started",
    "Runs queued, by trigger (manual, schedule, api, webhook).",
    ["trigger"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "galaxyco_runs_finished",
    "Runs that reached a terminal state, by status (succeeded, failed, cancelled).",
    ["status"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "galaxyco_run_duration_seconds",
    "Wall-clock time of executed runs, from the executor's claim to the terminal state.",
    ["status"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "galaxyco_time_to_first_token_seconds",
    "Time from sending a model turn to its first streamed event (retries included), by provider.",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
    registry=REGISTRY,
)
TOKENS = Counter(
    "galaxyco_tokens",
    "Tokens used by model turns, by provider and direction (input, output).",
    ["provider", "direction"],
    registry=REGISTRY,
)
COST = Counter(
    "galaxyco_cost_usd",
    "Cost in US dollars of priced model turns, by provider (unpriced models add nothing).",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_ERRORS = Counter(
    "galaxyco_provider_errors",
    "Failed provider calls (each failed attempt, retried or not), by provider and kind.",
    ["provider", "kind"],
    registry=REGISTRY,
)
INGEST_ITEMS = Counter(
    "galaxyco_ingest_items",
    "Knowledge items whose ingestion ended, by status (ready, failed).",
    ["status"],
    registry=REGISTRY,
)
INGEST_PAGES = Counter(
    "galaxyco_ingest_pages",
    "Pages of the knowledge items that were indexed.",
    registry=REGISTRY,
)
WEBSOCKET_CLIENTS = Gauge(
    "galaxyco_websocket_clients",
    "Browser websocket connections open now (all app processes of this host).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
HTTP_DURATION = Histogram(
    "galaxyco_http_request_duration_seconds",
    "HTTP request latency to the end of the response (a stream counts until it closes), "
    "by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)

_LABEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
_scrape_collectors: list[Collector] = []
_exit_hook_pid: int | None = None


def _label(value: str) -> str:
    """A label value from a small closed set; anything else is ``other``."""
    return value if _LABEL.fullmatch(value or "") else "other"


def run_started(trigger: str) -> None:
    RUNS_STARTED.labels(_label(trigger)).inc()


def run_finished(status: str, duration_s: float | None = None) -> None:
    """Count a terminal run; ``duration_s`` only for runs an executor ran (not queued cancels)."""
    RUNS_FINISHED.labels(_label(status)).inc()
    if duration_s is not None:
        RUN_DURATION.labels(_label(status)).observe(max(duration_s, 0.0))


def first_token(provider: str, seconds: float) -> None:
    TIME_TO_FIRST_TOKEN.labels(_label(provider)).observe(max(seconds, 0.0))


def tokens(provider: str, input_tokens: int, output_tokens: int) -> None:
    provider = _label(provider)
    TOKENS.labels(provider, "input").inc(max(input_tokens, 0))
    TOKENS.labels(provider, "output").inc(max(output_tokens, 0))


def cost(provider: str, usd: Decimal | float | None) -> None:
    if usd is not None and usd > 0:
        COST.labels(_label(provider)).inc(float(usd))


def provider_error(provider: str, kind: str) -> None:
    PROVIDER_ERRORS.labels(_label(provider), _label(kind)).inc()


def ingest_finished(status: str, *, pages: int = 0) -> None:
    INGEST_ITEMS.labels(_label(status)).inc()
    if pages > 0:
        INGEST_PAGES.inc(pages)


def websocket_connected(delta: int) -> None:
    """Add ``delta`` (+1 on accept, -1 on close) to the open websocket count."""
    if multiprocess_dir():
        _mark_dead_on_exit()
    WEBSOCKET_CLIENTS.inc(delta)


def http_request(method: str, route: str, status_class: str, seconds: float) -> None:
    """Observe one request; ``route`` must be a template (``/api/v1/runs/{run_id}``), never a raw path."""
    HTTP_DURATION.labels(method, route, status_class).observe(max(seconds, 0.0))


def add_scrape_collector(collector: Collector) -> None:
    """Register a collector evaluated at every scrape (once per process; repeats are ignored)."""
    if all(type(existing) is not type(collector) for existing in _scrape_collectors):
        _scrape_collectors.append(collector)


def multiprocess_dir() -> str:
    """``PROMETHEUS_MULTIPROC_DIR`` when set (the values of all processes are added up)."""
    return get_settings().prometheus_multiproc_dir


class _Local(Collector):
    """This process's GalaxyCo metrics (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def render() -> bytes:
    """The text exposition of every metric, all processes added up in multiprocess mode.

    Blocking (scrape collectors may query the database): call it in a thread.
    """
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        _multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Local())
    for collector in _scrape_collectors:
        registry.register(collector)
    return generate_latest(registry)


def _mark_dead_on_exit() -> None:
    """Drop this process's live gauges from the shared directory when it exits."""
    global _exit_hook_pid
    pid = os.getpid()
    if _exit_hook_pid != pid:
        _exit_hook_pid = pid
        path = multiprocess_dir()
        exit_hook: Callable[[], None] = lambda: _multiprocess.mark_process_dead(pid, path)  # noqa: E731
        atexit.register(exit_hook)
