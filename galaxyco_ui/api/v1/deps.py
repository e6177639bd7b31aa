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

from galaxyco_ui.api.cookies import client_ip
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.services import api_keys

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
        raise AuthenticationError("Send a workspace API key: Authorization: Bearer gx_…")
    return await asyncio.to_thread(_authenticate, credentials.credentials, client_ip(request))


ApiContext = Annotated[TenantContext, Depends(api_context)]
