"""Session routes: exchange a login ticket for the HttpOnly cookie, and sign out."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from galaxyco_ui.api.cookies import clear_session_cookie, safe_next, session_token, set_session_cookie
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.services import accounts


async def exchange(request: Request) -> Response:
    """GET /api/auth/session?ticket=…&next=/path → cookie set, 303 to ``next``."""
    ticket = request.query_params.get("ticket", "")
    next_url = safe_next(request.query_params.get("next"))
    try:
        token = await run_in_threadpool(accounts.exchange_ticket, ticket=ticket)
    except AuthenticationError as exc:
        return RedirectResponse("/login?" + urlencode({"error": exc.message}), status_code=303)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, token)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def logout(request: Request) -> Response:
    """POST (or GET from the menu link) /api/auth/logout → session revoked, cookie cleared."""
    if token := session_token(request):
        await run_in_threadpool(accounts.sign_out, token=token)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    clear_session_cookie(response)
    return response


routes = [
    Route("/api/auth/session", exchange, methods=["GET"]),
    Route("/api/auth/logout", logout, methods=["GET", "POST"]),
]
