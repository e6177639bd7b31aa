"""A hard cap on the size of upload requests, before anything is written to disk.

Reflex's upload endpoint (``/_upload``) hands the multipart body to Starlette, which
spools every file to a temporary file before our handler sees it; the browser refuses
files above the limit, but a script does not have to. This middleware answers 413 as
soon as the declared ``Content-Length`` or the bytes actually received pass
``MAX_FILES_PER_UPLOAD`` files of ``KNOWLEDGE_MAX_UPLOAD_MB`` (plus 1 MB for the
multipart framing). Per-file limits are still checked by ``knowledge.storage``. The
platform API's upload (``POST /api/v1/knowledge/collections/{id}/items``) has the same
cap, answered as a problem+json like the rest of that API; every other ``/api/v1`` body
(JSON for agents, runs, chat completions, trigger URLs) is capped at ``API_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import contextlib
import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galaxyco_ui.api.v1.problems import problem
from galaxyco_ui.errors import TooLargeError
from galaxyco_ui.knowledge.storage import MAX_FILES_PER_UPLOAD, max_upload_bytes

UPLOAD_PATH_PREFIX = "/_upload"
API_UPLOAD_PATH = re.compile(r"/api/v1/knowledge/collections/[^/]+/items/?")
API_PREFIX = "/api/v1/"
API_MAX_BODY_BYTES = 2 * 1024 * 1024
_FRAMING_BYTES = 1024 * 1024


def request_cap() -> int:
    return MAX_FILES_PER_UPLOAD * max_upload_bytes() + _FRAMING_BYTES


def _cap_for(path: str) -> tuple[int, bool] | None:
    """The byte cap for a request to ``path`` and whether it answers as the API; None: no cap."""
    if API_UPLOAD_PATH.fullmatch(path):
        return request_cap(), True
    if path.startswith(API_PREFIX):
        return API_MAX_BODY_BYTES, True
    if path.startswith(UPLOAD_PATH_PREFIX):
        return request_cap(), False
    return None


class UploadSizeLimitMiddleware:
    """Pure ASGI: 413 for uploads above ``request_cap()`` and API bodies above
    ``API_MAX_BODY_BYTES``; other requests pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = _cap_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        cap, api = limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _refuse(scope, send, cap, api=api)
            return
        received = 0
        too_large = refused = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    too_large = True
                    raise TooLargeError("The upload is larger than allowed.")
            return message

        async def guarded_send(message: Message) -> None:
            # Once the cap is passed, whatever the app answers (typically a 500 for the
            # exception it saw while reading) is replaced by one 413.
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused:
                refused = True
                await _refuse(scope, send, cap, api=api)

        with contextlib.suppress(TooLargeError):
            await self.app(scope, counting_receive, guarded_send)
        if too_large and not refused:
            await _refuse(scope, send, cap, api=api)


async def _refuse(scope: Scope, send: Send, cap: int, *, api: bool = False) -> None:
    if cap == API_MAX_BODY_BYTES and not API_UPLOAD_PATH.fullmatch(scope["path"]):
        message = f"API request bodies are limited to {API_MAX_BODY_BYTES // (1024 * 1024)} MB."
    else:
        message = (
            f"Uploads are limited to {MAX_FILES_PER_UPLOAD} files of "
            f"{max_upload_bytes() // (1024 * 1024)} MB at a time ({cap // (1024 * 1024)} MB in all)."
        )
    if api:
        await problem(413, message)(scope, _no_receive, send)
        return
    body = json.dumps({"error": "too_large", "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
