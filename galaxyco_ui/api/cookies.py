"""The cookies the auth routes set, and what they read back from a request.

``galaxyco_session``: the session token. HttpOnly, SameSite=Lax, Secure when served
over HTTPS, set only by ``/api/auth/session``.

``galaxyco_browser``: the pre-auth cookie that binds a sign-in to the browser it
happened in (login CSRF). A random value, HttpOnly, SameSite=Lax, one hour; set by
``/api/auth/browser`` (the sign-in and sign-up pages send a browser without one there
first) or by the OAuth start route. A login ticket is issued for its value and is
exchanged only when the same value comes back with it, so a ticket an attacker got
for their own account cannot be spent in a victim's browser.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.requests import HTTPConnection
from starlette.responses import Response

from galaxyco_ui.auth.tokens import SESSION_COOKIE, new_token
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.client_address import client_address_of

BROWSER_COOKIE = "galaxyco_browser"
BROWSER_COOKIE_TTL_SECONDS = 3600
_MAX_BINDING_LENGTH = 100


def set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def session_token(conn: HTTPConnection) -> str:
    return conn.cookies.get(SESSION_COOKIE, "")


def browser_binding(conn: HTTPConnection) -> str:
    """The pre-auth cookie's value on this request, or "" without a usable one."""
    return _usable(conn.cookies.get(BROWSER_COOKIE, ""))


def browser_binding_from_header(cookie_header: str) -> str:
    """The pre-auth cookie's value in a raw ``Cookie`` header (the websocket handshake's)."""
    try:
        morsel = SimpleCookie(cookie_header or "").get(BROWSER_COOKIE)
    except CookieError:
        return ""
    return _usable(morsel.value) if morsel else ""


def ensure_browser_cookie(conn: HTTPConnection, response: Response) -> str:
    """The browser's binding value: its pre-auth cookie, or a new one set on ``response``."""
    if value := browser_binding(conn):
        return value
    value = new_token()
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        max_age=BROWSER_COOKIE_TTL_SECONDS,
        httponly=True,
        samesite="lax",  # sent on top-level navigations back from an identity provider
        secure=get_settings().cookie_secure,
        path="/",
    )
    return value


def client_ip(conn: HTTPConnection) -> str:
    """The client's address, believing X-Forwarded-For only as far as ``TRUSTED_PROXY_HOPS``."""
    return client_address_of(conn)


def safe_next(url: str | None, default: str = "/agents") -> str:
    """Only same-site relative paths are followed after sign-in (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def _usable(value: str) -> str:
    value = value.strip()
    return value if 0 < len(value) <= _MAX_BINDING_LENGTH else ""
