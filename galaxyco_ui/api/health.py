"""Health endpoints for load balancers, uptime checks and orchestrator probes.

``GET /api/health/live``: the process is up and its event loop answers. No I/O at all,
so a slow database never gets a healthy process restarted (a liveness probe).

    200 {"status": "ok"}

``GET /api/health/ready``: this process can serve now (a readiness probe): the database,
Redis when configured, and the job queue's lag (``services.health``).

    200 {"status": "ok",       "checks": {...}, "failed": [],           "version": "0.1.0"}
    503 {"status": "degraded", "checks": {...}, "failed": ["database"], "version": "0.1.0"}

``GET /api/health`` is the same as ``/api/health/ready`` (the older name, kept for the
monitors that use it). No health call reaches a model provider.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from galaxyco_ui.services.health import failed_checks, readiness

VERSION = "0.1.0"
_NO_STORE = {"Cache-Control": "no-store"}


async def live(request: Request) -> JSONResponse:
    """Answer at once: reaching this handler is the whole check."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def ready(request: Request) -> JSONResponse:
    """Check the database, Redis (when configured) and the job queue's lag.

    Returns:
        200 with ``status: ok`` when every configured check passes, else 503 with
        ``status: degraded`` and the failed checks' names in ``failed``.
    """
    healthy, checks = await readiness()
    return JSONResponse(
        {
            "status": "ok" if healthy else "degraded",
            "checks": checks,
            "failed": failed_checks(checks),
            "version": VERSION,
        },
        status_code=200 if healthy else 503,
        headers=_NO_STORE,
    )


routes: list[Route] = [
    Route("/api/health/live", live, methods=["GET"]),
    Route("/api/health/ready", ready, methods=["GET"]),
    Route("/api/health", ready, methods=["GET"]),
]
