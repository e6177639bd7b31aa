"""The session cookie: HttpOnly, SameSite=Lax, Secure when served over HTTPS."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from galaxyco_ui.auth.tokens import SESSION_COOKIE
from galaxyco_ui.config import get_settings


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


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def safe_next(url: str | None, default: str = "/agents") -> str:
    """Only same-site relative paths are followed after sign-in (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url
