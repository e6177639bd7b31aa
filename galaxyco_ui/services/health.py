"""Is this process ready to serve? The checks behind ``/api/health/ready``.

For load balancers and orchestrators, not tenants: nothing here reads tenant data, so no
``TenantContext`` is taken. Three checks, each bounded by ``CHECK_TIMEOUT_SECONDS``:

- ``database``: ``SELECT 1`` on the engine's pool;
- ``redis``: ``PING``, only when ``REDIS_URL`` is set (``{"configured": false}`` otherwise);
- ``queue``: the job queue's backlog (``jobs.queue.JobQueue.backlog``): how long the
  oldest job that could start has waited, against ``READY_MAX_QUEUE_LAG_SECONDS``
  (``0`` skips it). In the embedded mode that is this process's own queue; with Redis
  it is the SAQ queue every worker takes from, so a backlog the workers cannot keep up
  with (or no worker at all) shows on every app process.

The queue is measured where jobs wait rather than from ``runs`` rows: a run left
``queued`` by a process that stopped (the embedded queue lives in memory) would
otherwise keep every process unready for good, and ingestion jobs count too.

Errors name the exception class only, so no connection string or host leaks out.
Nothing here calls a model provider: their reachability is checked on a timer
(``providers.reachability``) and shown in Settings → Providers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import get_engine
from galaxyco_ui.infra.redis import get_redis
from galaxyco_ui.jobs import get_job_queue

CHECK_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger(__name__)

Check = dict[str, Any]


async def readiness() -> tuple[bool, dict[str, Check]]:
    """Run every check at once.

    Returns:
        Whether every configured check passed, and each check's outcome by name:
        ``{"ok": bool, "latency_ms": float}``, with ``"error"`` when it failed (the
        queue's also carries ``depth``, ``lag_seconds`` and ``max_lag_seconds``), or
        ``{"configured": false}`` for a check that does not apply.
    """
    database, redis, queue = await asyncio.gather(_database(), _redis(), _queue())
    checks = {"database": database, "redis": redis, "queue": queue}
    return all(check.get("ok", True) for check in checks.values()), checks


def failed_checks(checks: dict[str, Check]) -> list[str]:
    """The names of the checks that failed, in order."""
    return [name for name, check in checks.items() if check.get("ok", True) is False]


def _ping_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))


async def _database() -> Check:
    return await _timed("database", lambda: asyncio.to_thread(_ping_database))


async def _redis() -> Check:
    client = get_redis()
    if client is None:
        return {"configured": False}
    return {"configured": True, **await _timed("redis", lambda: asyncio.to_thread(client.ping))}


async def _queue() -> Check:
    max_lag = get_settings().ready_max_queue_lag_seconds
    if max_lag <= 0:
        return {"configured": False}
    measured: dict[str, Any] = {}

    async def measure() -> None:
        backlog = await get_job_queue().backlog()
        measured.update(depth=backlog.depth, lag_seconds=round(backlog.lag_seconds, 3))

    result = await _timed("queue", measure)
    result.update(measured, max_lag_seconds=max_lag)
    if result["ok"] and measured["lag_seconds"] > max_lag:
        result.update(ok=False, error=f"the oldest waiting job has waited over {max_lag:g} s")
        logger.warning("Health check failed", extra={"check": "queue", **measured})
    return result


async def _timed(name: str, probe: Callable[[], Awaitable[Any]]) -> Check:
    """Await ``probe`` within the timeout and report its outcome and latency."""
    started = time.perf_counter()
    result: Check = {"ok": True}
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        result = {"ok": False, "error": "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__}
        logger.warning("Health check failed", extra={"check": name, "error": repr(exc)})
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result
