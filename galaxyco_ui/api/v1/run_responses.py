"""How an HTTP request that started a run is answered: ``response_mode``.

* ``async`` (the default): 202 with the run at once and ``Location: /api/v1/runs/{id}``.
* ``blocking``: wait for the run to finish (following its events, not polling), at most
  ``timeout`` seconds (default 60, at most 300): 200 with the finished run, or 202 with the
  run as it is then (follow it at ``Location``).
* ``streaming``: 200 ``text/event-stream`` of the run's events (``run_events``) from its
  first one, ending after ``run.finished``. Closing the stream does not cancel the run.

Every answer carries ``X-GalaxyCo-Run-Id``. Used by ``POST /agents/{id}/runs`` and by the
agent trigger URLs (``POST /hooks/{token}``).
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.responses import JSONResponse, Response

from galaxyco_ui.api.v1.run_events import (
    PING_SECONDS,
    SSE_CONTENT,
    Recheck,
    follow_run,
    sse_response,
    wait_for_run,
)
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services.runs import ACTIVE, RunView

ResponseMode = Literal["async", "blocking", "streaming"]
RESPONSE_MODES: tuple[str, ...] = ("async", "blocking", "streaming")
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 300.0
RUN_ID_HEADER = "X-GalaxyCo-Run-Id"
RUNS_PATH = "/api/v1/runs"  # where a run is read (api.v1.PREFIX + the runs router)

# For route decorators: what each mode answers (besides the problems).
RUN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": RunView,
        "description": "`blocking`: the finished run (JSON). `streaming`: server-sent events of the "
        "run (`id:`, `event:`, `data:`), ending after `run.finished`.",
        "content": SSE_CONTENT,
    },
    202: {
        "description": "`async`, or `blocking` past its timeout: the run as it is now; "
        "follow it at `Location`.",
    },
}


def run_location(run_id: str) -> str:
    return f"{RUNS_PATH}/{run_id}"


async def respond_to_run(
    ctx: TenantContext,
    run: RunView,
    mode: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the blocking mode's time budget, from the request
    recheck: Recheck | None = None,
) -> Response:
    """The answer to a request that started ``run``, in ``mode`` (see the module docstring).

    Args:
        ctx: the caller (events are read in its workspace).
        run: the run just started (``services.runs.start_run``'s view).
        mode: ``async``, ``blocking`` or ``streaming``.
        timeout: how long ``blocking`` waits, in seconds (clamped to 0..300).
        recheck: for ``streaming``, re-authenticates the caller while the stream lasts.

    Raises:
        ValidationError: an unknown mode (field ``response_mode``).
    """
    headers = {RUN_ID_HEADER: run.id}
    if mode == "async":
        return _run_json(run, 202, headers)
    if mode == "blocking":
        finished = await wait_for_run(ctx, run.id, within=min(max(timeout, 0.0), MAX_TIMEOUT))
        return _run_json(finished, 202 if finished.status in ACTIVE else 200, headers)
    if mode == "streaming":
        events = await follow_run(ctx, run, recheck=recheck, keepalive=PING_SECONDS)
        return sse_response(events, headers=headers)
    raise ValidationError({"response_mode": f"Use one of: {', '.join(RESPONSE_MODES)}."})


def _run_json(run: RunView, status_code: int, headers: dict[str, str]) -> JSONResponse:
    if status_code == 202:
        headers = {**headers, "Location": run_location(run.id)}
    return JSONResponse(run.model_dump(mode="json"), status_code=status_code, headers=headers)
