"""The production server: gunicorn with GalaxyCo's uvicorn worker.

``reflex run --env prod`` (``make run``, the e2e suite, the benches) serves the backend
with ``python -m gunicorn --preload --worker-class uvicorn.workers.UvicornH11Worker ...``
when gunicorn and uvicorn are both installed (granian otherwise, or with
``REFLEX_USE_GRANIAN=true``), and appends ``GUNICORN_CMD_ARGS`` (the last value of an
option wins). ``rxconfig.py`` has ``infra/server_signals.py`` put ``gunicorn_args()``
there, before the operator's own, when Reflex launches gunicorn.

Why not granian or Reflex's worker: an idle browser tab is one websocket, and what the
server holds per websocket is paid 1,000 times. Granian 2.8.9 holds 164 KB per idle
websocket (tokio-tungstenite's 128 KiB buffers, not configurable); ``UvicornH11Worker``
negotiates per-message deflate (~100 KB more per idle websocket: zlib's state) and lives in the
deprecated ``uvicorn.workers``. ``GalaxyCoWorker`` (from the maintained
``uvicorn-worker`` package) turns deflate off and picks the websocket implementation
that holds least (figures in bench/README.md, "P8").

It keeps what granian did: the socket peer is handed to the app untouched (no
X-Forwarded-For or X-Forwarded-Proto rewriting; ``infra/client_address.py`` alone judges
X-Forwarded-For, by ``TRUSTED_PROXY_HOPS``), and the lifespan runs (the app's background
loops). SIGTERM stops it within 10 s: the worker closes its websockets and gives open
responses (SSE streams) ``SHUTDOWN_SECONDS`` before the lifespan shutdown, and gunicorn
kills a worker still alive after ``--graceful-timeout``.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # ships no py.typed

SHUTDOWN_SECONDS = 3  # open responses (an SSE stream) get this long after SIGTERM
GRACEFUL_TIMEOUT_SECONDS = 6  # then gunicorn SIGKILLs a worker still running
MAX_WORKERS = 17  # Reflex's own cap (reflex.utils.processes.MAX_BACKEND_WORKERS)


class GalaxyCoWorker(UvicornWorker):
    """Uvicorn under gunicorn, tuned for many idle websockets."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "asyncio",
        "http": "h11",
        "ws": "wsproto",
        "ws_per_message_deflate": False,
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
    }


def gunicorn_args(*, scale_out: bool) -> str:
    """The gunicorn options GalaxyCo's production server runs with.

    Args:
        scale_out: whether ``REDIS_URL`` is set. The embedded mode keeps runs, their
            queue and events in the process: it must stay one process. The scale-out
            mode keeps no state in the process; its process count is gunicorn's
            ``--workers``, whose default gunicorn reads from ``WEB_CONCURRENCY``
            (see ``scale_out_workers``).

    Returns:
        A ``GUNICORN_CMD_ARGS`` value (Reflex appends it to its own options, so it wins).
    """
    args = [
        f"--worker-class {GalaxyCoWorker.__module__}.{GalaxyCoWorker.__name__}",
        f"--graceful-timeout {GRACEFUL_TIMEOUT_SECONDS}",
        # No heartbeat deadline (granian had none): a worker busy hydrating 1,000 tabs on a
        # loaded box missed gunicorn's default 30 s and was killed with every tab on it.
        # A hung process is for the liveness probe (/api/health/live) to restart.
        "--timeout 0",
    ]
    if not scale_out:
        args.append("--workers 1")
    return " ".join(args)


def scale_out_workers() -> int:
    """Worker processes per app process in the scale-out mode: 2 x CPUs + 1, as Reflex
    and granian chose, capped like Reflex's."""
    return min((os.cpu_count() or 1) * 2 + 1, MAX_WORKERS)
