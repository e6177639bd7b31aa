"""Sign-in with Google, GitHub or OpenID Connect: the two redirect endpoints.

    GET /api/auth/oauth/{provider}/start?next=/path
        → 302 to the provider, with the encrypted flow cookie (state, nonce, PKCE).
    GET /api/auth/oauth/{provider}/callback?code=…&state=…
        → 303 to /api/auth/session?ticket=…&next=… (which sets the session cookie),
          or 303 to /login?error=<message> on any failure.

When the sign-in linked the provider to an existing account, or the user has
two-factor on, ``next`` goes through the sign-in page first (``/login?next=…``, with
``linked=<provider>`` for a new link): it asks for the code of a pending session, and
says that the account was linked. A new link is also announced by email (SMTP set).

An unconfigured provider is a 404 on both. The provider is called (token exchange,
ID token keys, user info) before the account service runs, so no database
transaction is open during network calls.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from galaxyco_ui.api.cookies import browser_binding, client_ip, ensure_browser_cookie, safe_next
from galaxyco_ui.auth import oauth
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.infra import mail
from galaxyco_ui.services import accounts

NO_BROWSER_COOKIE = (
    "Your browser did not keep GalaxyCo's sign-in cookie. Allow cookies for this site and try again."
)


def _not_configured() -> Response:
    return JSONResponse(
        {"error": "not_found", "message": "This sign-in method is not configured."},
        status_code=404,
        headers={"Cache-Control": "no-store"},
    )


def _to_login(message: str, provider: str) -> Response:
    """303 to the login page with ``message``, dropping the provider's flow cookie."""
    response = RedirectResponse("/login?" + urlencode({"error": message}), status_code=303)
    _clear_flow_cookie(response, provider)
    return response


def _clear_flow_cookie(response: Response, provider: str) -> None:
    response.delete_cookie(
        oauth.flow_cookie_name(provider),
        path=oauth.flow_cookie_path(provider),
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"


async def start(request: Request) -> Response:
    """GET /api/auth/oauth/{provider}/start?next=… → redirect to the provider."""
    provider = request.path_params["provider"]
    if provider not in oauth.configured_providers():
        return _not_configured()
    next_url = safe_next(request.query_params.get("next"))
    try:
        flow = await oauth.begin_sign_in(provider, next_url)
    except oauth.OAuthFlowError as exc:
        return _to_login(exc.message, provider)
    response = RedirectResponse(flow.authorization_url, status_code=302)
    response.set_cookie(
        flow.cookie_name,
        flow.cookie_value,
        max_age=oauth.FLOW_TTL_SECONDS,
        path=flow.cookie_path,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=get_settings().cookie_secure,
    )
    # The login ticket the callback issues is bound to this browser (login CSRF).
    ensure_browser_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


async def callback(request: Request) -> Response:
    """GET /api/auth/oauth/{provider}/callback → ticket exchange, or the login page with an error."""
    provider = request.path_params["provider"]
    if provider not in oauth.configured_providers():
        return _not_configured()
    try:
        identity, next_url = await oauth.finish_sign_in(
            provider, request.query_params, request.cookies.get(oauth.flow_cookie_name(provider))
        )
    except oauth.OAuthFlowError as exc:
        return _to_login(exc.message, provider)
    if not (binding := browser_binding(request)):  # set by start, an hour ago at most
        return _to_login(NO_BROWSER_COOKIE, provider)
    # The provider is done; only now does the account service open a transaction.
    try:
        result = await run_in_threadpool(
            oauth_sign_in,
            provider=provider,
            identity=identity,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            binding=binding,
        )
    except AuthenticationError as exc:
        return _to_login(exc.message, provider)
    next_url = safe_next(next_url)
    if result.second_factor or result.linked:
        # The sign-in page finishes: the code step of a pending session, the word about a link.
        login_query = {"next": next_url, **({"linked": provider} if result.linked else {})}
        next_url = "/login?" + urlencode(login_query)
    if result.linked and get_settings().smtp_host:
        profile = f"{get_settings().public_url.rstrip('/')}/profile/sessions"
        mail.send_later(
            result.email, *mail.oauth_linked_email(result.name, oauth.provider_label(provider), profile)
        )
    query = urlencode({"ticket": result.ticket, "next": next_url})
    response = RedirectResponse(f"/api/auth/session?{query}", status_code=303)
    _clear_flow_cookie(response, provider)
    return response


def oauth_sign_in(
    *, provider: str, identity: oauth.Identity, ip: str, user_agent: str, binding: str = ""
) -> accounts.OAuthSignIn:
    """Sign ``identity`` in through the account service (blocking; run it in a thread).

    Returns:
        The one-time login ticket, and whether it linked an account or needs a code.

    Raises:
        AuthenticationError: no verified email for an unknown subject, an unverified
            account has the address, or the linked account is no longer active.
    """
    return accounts.sign_in_with_oauth(
        provider=provider,
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
        name=identity.name,
        ip=ip,
        user_agent=user_agent,
        binding=binding,
    )


routes = [
    Route("/api/auth/oauth/{provider}/start", start, methods=["GET"]),
    Route("/api/auth/oauth/{provider}/callback", callback, methods=["GET"]),
]
