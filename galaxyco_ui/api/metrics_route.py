"""``GET /metrics``: the Prometheus text exposition, for an operator's scraper.

    404  METRICS_TOKEN is not set (metrics are off; the route looks absent)
    401  no ``Authorization: Bearer <METRICS_TOKEN>``, or another token
    200  every metric of ``infra/metrics`` (all processes of this host added up when
         PROMETHEUS_MULTIPROC_DIR is set) and the queue gauges, read now

The token is compared in constant time. Nothing in the output names a workspace, a
user or any other tenant object: labels are closed sets (see ``infra/metrics``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra import metrics
from galaxyco_ui.services.queue_stats import queue_stats

log = logging.getLogger("galaxyco.metrics")


class QueueCollector(Collector):
    """Queue depth and age, read from the database at each scrape (two indexed queries)."""

    def collect(self) -> Iterable[Metric]:
        try:
            stats = queue_stats()
        except Exception as exc:  # the database being down must not hide every other metric
            log.warning("queue metrics unavailable", extra={"error": type(exc).__name__})
            return []
        depth = GaugeMetricFamily(
            "galaxyco_queue_depth", "Work waiting to start, by queue (runs, ingestion).", labels=["queue"]
        )
        depth.add_metric(["runs"], stats.runs_queued)
        depth.add_metric(["ingestion"], stats.items_queued)
        age = GaugeMetricFamily(
            "galaxyco_queue_oldest_age_seconds",
            "Age of the oldest waiting item, by queue (0 when nothing waits).",
            labels=["queue"],
        )
        age.add_metric(["runs"], stats.runs_oldest_queued_seconds)
        age.add_metric(["ingestion"], stats.items_oldest_queued_seconds)
        active = GaugeMetricFamily(
            "galaxyco_queue_in_progress",
            "Work being executed now, by queue (runs, ingestion).",
            labels=["queue"],
        )
        active.add_metric(["runs"], stats.runs_running)
        active.add_metric(["ingestion"], stats.items_processing)
        return [depth, age, active]


metrics.add_scrape_collector(QueueCollector())


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    token = get_settings().metrics_token
    if not token:
        return PlainTextResponse("Not Found", status_code=404)
    if not _authorized(request, token):
        return PlainTextResponse(
            "A bearer token is required (METRICS_TOKEN).",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await asyncio.to_thread(metrics.render)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


routes: list[Route] = [Route("/metrics", metrics_endpoint, methods=["GET"])]
