"""Who is calling: every endpoint takes ``ctx: ApiContext``.

The context is rebuilt from the ``Authorization: Bearer gx_…`` header on every request
(never cached per connection): a revoked key or a demoted creator takes effect at the
next request. The per-key rate limit is checked here too, before any work.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from galaxyco_ui.api.cookies import client_ip
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.services import api_keys

MISSING_KEY = "Send a workspace API key: Authorization: Bearer gx_…"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A workspace API key from Settings → API keys: `Authorization: Bearer gx_…`.",
)


def _authenticate(secret: str, ip: str) -> TenantContext:
    ctx = api_keys.authenticate_api_key(secret, ip=ip)
    api_keys.check_api_rate(ctx)
    return ctx


async def api_context(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> TenantContext:
    if credentials is None:
        raise AuthenticationError(MISSING_KEY)
    return await asyncio.to_thread(_authenticate, credentials.credentials, client_ip(request))


async def request_context(request: Request) -> TenantContext:
    """``api_context`` for an endpoint that is not a FastAPI route (``/mcp``): the same checks.

    Raises:
        AuthenticationError: no bearer key, or a wrong, revoked or expired one.
        RateLimitedError: the key's requests this minute are used up.
    """
    scheme, secret = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationError(MISSING_KEY)
    return await asyncio.to_thread(_authenticate, secret, client_ip(request))


ApiContext = Annotated[TenantContext, Depends(api_context)]
