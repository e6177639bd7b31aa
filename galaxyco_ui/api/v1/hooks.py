"""``POST /hooks/{token}``: an agent's trigger URL (webhooks in).

No API key: the token in the path is the credential (anyone holding the URL may start
the agent, as whoever issued the token; see ``services/agent_hooks``). The body is JSON
when the request says ``application/json`` (or ``…+json``), otherwise UTF-8 text; it
becomes the run input through the hook's template. Bodies above ``MAX_BODY_BYTES`` are
refused with 413 before they are read whole.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from galaxyco_ui.api.cookies import client_ip
from galaxyco_ui.api.v1.problems import TOO_LARGE, problem
from galaxyco_ui.api.v1.run_events import SSE_CONTENT, wait_for_run
from galaxyco_ui.api.v1.run_responses import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    RESPONSE_MODES,
    RUN_ID_HEADER,
    ResponseMode,
    respond_to_run,
)
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import agent_hooks
from galaxyco_ui.services.runs import ACTIVE, RunView

MAX_BODY_BYTES = 1024 * 1024
MODES = RESPONSE_MODES

router = APIRouter(prefix="/hooks", tags=["trigger URLs"])


class HookAccepted(BaseModel):
    """The run the request started; it goes on in the background."""

    run_id: str
    status: str = Field(description="`queued` at first (`running` after a `blocking` wait).")
    run_url: str = Field(description="The run's page in GalaxyCo (for people signed in to the workspace).")


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _parse(raw: bytes, content_type: str) -> object:
    """The body as the template sees it: parsed JSON, or text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError({"body": "Send the body as UTF-8 text or JSON."}) from None
    if not _is_json(content_type):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError({"body": "The body is not valid JSON (or is nested too deeply)."}) from None


def _mode(query_mode: str | None, body: object) -> str:
    mode = query_mode
    if mode is None and isinstance(body, dict):
        sent = body.get("response_mode")
        mode = sent if isinstance(sent, str) else None
    mode = mode or "async"
    if mode not in MODES:
        raise ValidationError({"response_mode": f"Use one of: {', '.join(MODES)}."})
    return mode


@router.post(
    "/{token}",
    status_code=202,
    response_model=HookAccepted,
    summary="Start a run through an agent's trigger URL",
    description=(
        "The trigger URL shown on an agent's page in GalaxyCo. No API key: the token in the "
        "path is the credential, so keep the URL secret (regenerate it on the agent page if it "
        "leaks). The body (at most 1 MB) is JSON with `Content-Type: application/json`, else "
        "UTF-8 text, and becomes the run's input through the trigger's template "
        "(`{{ body }}`, `{{ body.field.0 }}`). Each trigger URL takes 60 requests a minute.\n\n"
        "`response_mode` (in the query, or as a top-level field of a JSON body): `async` "
        "(default) answers 202 with the run id at once; `blocking` waits for the run to finish "
        "(at most `timeout` seconds) and answers 200 with the finished run, or 202 with the run "
        "id when it is still going; `streaming` answers 200 with the run's server-sent events, "
        "ending after `run.finished`."
    ),
    responses={
        200: {
            "model": RunView,
            "description": "`blocking`: the finished run. `streaming`: the run's server-sent events "
            "(`id:`, `event:`, `data:`), ending after `run.finished`.",
            "content": SSE_CONTENT,
        },
        202: {"description": "`async`, or `blocking` past its timeout: the run id; the run goes on."},
        **TOO_LARGE,
    },
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
    },
)
async def trigger(
    request: Request,
    token: Annotated[str, Path(description="The `gxh_…` token of the trigger URL.")],
    response_mode: Annotated[
        ResponseMode | None,
        Query(description="`async` (default), `blocking` or `streaming`; see above."),
    ] = None,
    timeout: Annotated[  # noqa: ASYNC109 - how long `blocking` waits, from the query
        float,
        Query(ge=0, le=MAX_TIMEOUT, description="`blocking`: the longest wait, in seconds."),
    ] = DEFAULT_TIMEOUT,
) -> Response:
    try:
        raw = await _read_body(request)
    except _TooLarge:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
    body = _parse(raw, request.headers.get("content-type", ""))
    mode = _mode(response_mode, body)
    ip = client_ip(request)
    # Blocking and streaming read the run as whoever the URL acts for.
    ctx = None if mode == "async" else await asyncio.to_thread(agent_hooks.hook_context, token, ip=ip)
    run = await agent_hooks.start_from_hook(token, body, ip=ip)
    if ctx is None:
        return _accepted(run)
    if mode == "blocking":
        finished = await wait_for_run(ctx, run.id, within=timeout)
        if finished.status in ACTIVE:
            return _accepted(finished)
        return JSONResponse(finished.model_dump(mode="json"), headers={RUN_ID_HEADER: run.id})

    async def recheck() -> TenantContext:  # the stream ends once the URL stops working
        return await asyncio.to_thread(agent_hooks.hook_context, token, ip=ip)

    return await respond_to_run(ctx, run, "streaming", recheck=recheck)


def _accepted(run: RunView) -> JSONResponse:
    accepted = HookAccepted(run_id=run.id, status=run.status, run_url=_run_url(run.id))
    return JSONResponse(accepted.model_dump(), status_code=202, headers={RUN_ID_HEADER: run.id})


def _run_url(run_id: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/runs/{run_id}"
