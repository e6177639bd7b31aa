"""The app process of ``bench/faults.py``: GalaxyCo's HTTP API (health checks, /api/v1)
with the app-side run recovery sweep in its lifespan, as the Reflex app runs it in the
scale-out mode (``galaxyco_ui.embedded_scheduler``), without the compiled frontend.

Served by granian: ``python -m granian --interface asgi bench._faults_app:app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from galaxyco_ui import job_catalog  # noqa: F401  (registers the run job the sweep enqueues)
from galaxyco_ui.api import create_api
from galaxyco_ui.services.workers import recovery_loop

app = create_api()


@contextlib.asynccontextmanager
async def _lifespan(_app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(recovery_loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


app.router.lifespan_context = _lifespan
