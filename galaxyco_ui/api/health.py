"""``GET /api/health``: is this backend able to serve? For load balancers and uptime checks.

    200 {"status": "ok",       "checks": {...}, "version": "0.1.0"}
    503 {"status": "degraded", "checks": {...}, "version": "0.1.0"}

Each check is ``{"ok": bool, "latency_ms": float}`` plus ``"error"`` when it failed;
Redis is checked only when configured (``{"configured": false}`` otherwise). Errors
name the exception class only, so no connection string or host leaks out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from galaxyco_ui.infra.db import get_engine
from galaxyco_ui.infra.redis import get_redis

VERSION = "0.1.0"
CHECK_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger(__name__)


def _ping_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))


async def _timed_check(name: str, probe: Callable[[], Any]) -> dict[str, Any]:
    """Run a blocking ``probe`` in a thread and report its outcome and latency."""
    started = time.perf_counter()
    result: dict[str, Any] = {"ok": True}
    try:
        await asyncio.wait_for(asyncio.to_thread(probe), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        result = {"ok": False, "error": "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__}
        logger.warning("Health check failed", extra={"check": name, "error": repr(exc)})
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def health(request: Request) -> JSONResponse:
    """Check the database (``SELECT 1``) and, when configured, Redis (``PING``).

    Returns:
        200 with ``status: ok`` when every configured dependency answers, else 503
        with ``status: degraded``.
    """
    checks: dict[str, dict[str, Any]] = {"database": await _timed_check("database", _ping_database)}
    client = get_redis()
    if client is None:
        checks["redis"] = {"configured": False}
    else:
        checks["redis"] = {"configured": True, **await _timed_check("redis", client.ping)}
    healthy = all(check.get("ok", True) for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks, "version": VERSION},
        status_code=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


routes: list[Route] = [Route("/api/health", health, methods=["GET"])]
