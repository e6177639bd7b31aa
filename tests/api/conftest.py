"""Fixtures for the API tests: the app over ASGI, the local OIDC provider over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from galaxyco_ui.api import create_api
from galaxyco_ui.auth.oauth import reset_oauth_clients
from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from tests.oauth_provider import OIDCProvider, oidc_provider

__all__ = ["oidc_provider"]

APP_URL = "http://testserver"


@pytest.fixture(autouse=True)
async def _close_async_clients() -> AsyncIterator[None]:
    """Close the Redis client and job queue a test's event loop opened through the app.

    Each test has its own loop; a client left open there is collected later, in whichever
    test runs then, as an "unclosed connection" ResourceWarning that fails that test.
    """
    yield
    await close_job_queue()
    await close_async_redis()


OIDC_NAME = "Acme SSO"


@pytest.fixture
def oidc(oidc_provider: OIDCProvider) -> Iterator[OIDCProvider]:
    """The app configured for the test OIDC provider (``provider.reset()`` before and after)."""
    oidc_provider.reset()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUBLIC_URL", APP_URL)
        for name, value in oidc_provider.app_env(APP_URL, name=OIDC_NAME).items():
            mp.setenv(name, value)
        reset_settings()
        reset_oauth_clients()
        yield oidc_provider
    reset_settings()
    reset_oauth_clients()
    oidc_provider.reset()


@pytest.fixture
async def browser(oidc: OIDCProvider) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client acting as the browser: the app over ASGI, everything else over the network.

    It follows redirects and keeps cookies, like a browser, across the app and the provider.
    """
    async with new_browser() as client:
        yield client


def new_browser() -> httpx.AsyncClient:
    """A fresh "browser" (own cookie jar) for the app at ``APP_URL``."""
    return httpx.AsyncClient(
        mounts={APP_URL: httpx.ASGITransport(app=create_api())},
        follow_redirects=True,
        timeout=10,
    )
