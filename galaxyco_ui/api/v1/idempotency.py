"""``Idempotency-Key`` on the POSTs that create something.

A client that retries a create after a timeout must not create twice. With the header,
the first answer is kept for 24 hours per API key: the same key with the same request
(method, path, body) answers it again (``Idempotent-Replayed: true``); the same key with
another request is a 409; a retry while the first is still being served is a 409 too.
Without the header a POST simply creates. Storage: ``services/idempotency.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import idempotency
from galaxyco_ui.services.idempotency import HEADER

MAX_KEY_CHARS = 255


async def idempotent(
    request: Request,
    ctx: TenantContext,
    create: Callable[[], Awaitable[BaseModel | dict[str, Any]]],
    *,
    status_code: int = 201,
) -> Response:
    """Run ``create`` once per ``Idempotency-Key`` and answer its result as JSON."""
    key = request.headers.get(HEADER)
    if key is None or ctx.api_key_id is None:
        return _json(await create(), status_code)
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ValidationError({HEADER: f"Use a printable key of 1 to {MAX_KEY_CHARS} characters."})
    digest = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), await request.body()])
    ).hexdigest()
    stored = await asyncio.to_thread(idempotency.claim, ctx, ctx.api_key_id, key, digest)
    if stored is not None:
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        result = await create()
    except BaseException:
        await asyncio.to_thread(idempotency.release, ctx.api_key_id, key)
        raise
    response = _json(result, status_code)
    await asyncio.to_thread(
        idempotency.store, ctx.api_key_id, key, status_code, bytes(response.body).decode()
    )
    return response


def _json(result: BaseModel | dict[str, Any], status_code: int) -> JSONResponse:
    body = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return JSONResponse(body, status_code=status_code)
