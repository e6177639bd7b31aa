"""Knowledge files: the one way an uploaded original leaves the server.

``GET /api/knowledge/items/{item_id}/original`` needs a signed-in session whose user is
a member of the item's workspace; anyone else gets 404 (never 403: ids from other
workspaces must not be confirmed to exist). The file is always sent as an attachment
with ``nosniff`` and a sandboxing CSP, so an uploaded HTML page never runs in our origin.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from galaxyco_ui.api.cookies import client_ip, session_token
from galaxyco_ui.errors import NotFoundError, PermissionDeniedError
from galaxyco_ui.services import knowledge
from galaxyco_ui.services.accounts import resolve_session


def _not_found() -> Response:
    return JSONResponse({"error": "not_found", "message": "That document was not found."}, status_code=404)


async def download_original(request: Request) -> Response:
    auth = resolve_session(token=session_token(request))
    if auth is None:
        return JSONResponse({"error": "unauthenticated", "message": "Sign in first."}, status_code=401)
    item_id = request.path_params["item_id"]
    try:
        # The item's own workspace, not the session's current one: links from any
        # workspace the user belongs to work.
        ctx = knowledge.context_for_item(
            user_id=auth.user_id, item_id=item_id, session_id=auth.session_id, ip=client_ip(request)
        )
        path, name, _media_type = knowledge.open_original(ctx=ctx, item_id=item_id)
    except (NotFoundError, PermissionDeniedError):
        return _not_found()
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


routes = [Route("/api/knowledge/items/{item_id}/original", download_original, methods=["GET"])]
