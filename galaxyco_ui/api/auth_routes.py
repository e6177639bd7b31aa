"""Session routes: the pre-auth browser cookie, the ticket exchange, and sign-out.

GET  /api/auth/browser?next=/login   → pre-auth cookie set (if missing), 303 to ``next``
GET  /api/auth/session?ticket=…&next=/path
                                     → session cookie set, 303 to ``next``; a ticket
                                       without this browser's pre-auth cookie is
                                       refused and burned (login CSRF)
POST /api/auth/logout                → session revoked, cookie cleared (same origin only)
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from galaxyco_ui.api.cookies import (
    browser_binding,
    clear_session_cookie,
    client_ip,
    ensure_browser_cookie,
    safe_next,
    session_token,
    set_session_cookie,
)
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.services import accounts


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def browser(request: Request) -> Response:
    """GET /api/auth/browser?next=/login → the pre-auth cookie, then back to ``next``."""
    response = RedirectResponse(
        safe_next(request.query_params.get("next"), default="/login"), status_code=303
    )
    ensure_browser_cookie(request, response)
    return _no_store(response)


async def exchange(request: Request) -> Response:
    """GET /api/auth/session?ticket=…&next=/path → cookie set, 303 to ``next``."""
    ticket = request.query_params.get("ticket", "")
    next_url = safe_next(request.query_params.get("next"))
    try:
        token = await run_in_threadpool(
            accounts.exchange_ticket, ticket=ticket, binding=browser_binding(request)
        )
    except AuthenticationError as exc:
        return _no_store(RedirectResponse("/login?" + urlencode({"error": exc.message}), status_code=303))
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, token)
    return _no_store(response)


async def logout(request: Request) -> Response:
    """POST /api/auth/logout → session revoked, cookie cleared, 303 to the sign-in page.

    Only from our own pages: a cross-site form cannot sign a user out.
    """
    if not _same_origin(request):
        return PlainTextResponse("Sign-out must come from GalaxyCo's own pages.", status_code=403)
    if token := session_token(request):
        await run_in_threadpool(accounts.sign_out, token=token, ip=client_ip(request))
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    clear_session_cookie(response)
    return _no_store(response)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _same_origin(request: Request) -> bool:
    """True when the browser says the request comes from PUBLIC_URL (or this very host).

    Browsers send ``Origin`` on every POST; ``Referer`` is the fallback for old ones.
    A request with neither is refused.
    """
    sent = request.headers.get("origin") or _origin(request.headers.get("referer", ""))
    if not sent or sent == "null":
        return False
    allowed = {_origin(get_settings().public_url), _origin(str(request.base_url))}
    return sent.lower() in allowed


routes = [
    Route("/api/auth/browser", browser, methods=["GET"]),
    Route("/api/auth/session", exchange, methods=["GET"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
]
