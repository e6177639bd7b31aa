"""``POST /hooks/{token}``: an agent's trigger URL (webhooks in).

No API key: the token in the path is the credential (anyone holding the URL may start
the agent, as whoever issued the token; see ``services/agent_hooks``). The body is JSON
when the request says ``application/json`` (or ``…+json``), otherwise UTF-8 text; it
becomes the run input through the hook's template. Bodies above ``MAX_BODY_BYTES`` are
refused with 413 before they are read whole.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from galaxyco_ui.api.cookies import client_ip
from galaxyco_ui.api.v1.problems import TOO_LARGE, problem
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import agent_hooks

MAX_BODY_BYTES = 1024 * 1024
ResponseMode = Literal["async"]
MODES: tuple[str, ...] = ("async",)

router = APIRouter(prefix="/hooks", tags=["trigger URLs"])


class HookAccepted(BaseModel):
    """The run the request started; it goes on in the background."""

    run_id: str
    status: str = Field(description="`queued` at first.")
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
        "(`{{ body }}`, `{{ body.field.0 }}`). Answers 202 with the run id at once; "
        "`response_mode` (query, or a top-level field of a JSON body) chooses otherwise. Each "
        "trigger URL takes 60 requests a minute."
    ),
    responses=TOO_LARGE,
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
    token: Annotated[str, Path(max_length=200, description="The `gxh_…` token of the trigger URL.")],
    response_mode: Annotated[
        ResponseMode | None,
        Query(description="`async` (default): 202 with the run id at once."),
    ] = None,
) -> Response:
    try:
        raw = await _read_body(request)
    except _TooLarge:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
    body = _parse(raw, request.headers.get("content-type", ""))
    _mode(response_mode, body)
    run = await agent_hooks.start_from_hook(token, body, ip=client_ip(request))
    accepted = HookAccepted(run_id=run.id, status=run.status, run_url=_run_url(run.id))
    return JSONResponse(accepted.model_dump(), status_code=202)


def _run_url(run_id: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/runs/{run_id}"
