"""The HTTP clients every provider SDK uses: vetted addresses, one TLS context.

Server-side request forgery: a workspace admin types the base URL, so every request an
SDK makes goes through ``VettedTransport``, which

- re-vets the URL at connect time with ``tools.netguard.vet_provider_url`` (the same
  resolver and address rules as the ``http_request`` tool: loopback and private hosts
  only when listed in ``ALLOWED_PRIVATE_PROVIDER_HOSTS``, link-local and cloud metadata
  never), because the DNS answer seen when the URL was saved may have changed since;
- connects to the vetted address, never to the name (no second lookup to rebind), with
  the original ``Host`` header and, for https, the original name as TLS SNI and for
  certificate verification;
- keeps to the origin (scheme, host, port) of the client's first request, which is the
  SDK's base URL: a redirect to another host is refused;
- ignores proxy settings from the environment (``trust_env`` off), since a proxy would
  connect by name, after the check.

A refusal raises ``ProviderAddressError`` before anything is sent. The OpenAI SDK and
google-genai let it through unchanged; Anthropic wraps it in ``APIConnectionError``,
which ``errors.connection_error`` unwraps.

TLS: each SDK client would otherwise build its own context, and loading the CA bundle
costs ~26 ms of blocking CPU per run (measured by bench/run_throughput.py): most of a
run's CPU, and stalls of the event loop that every other run and live page shares.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx2

from galaxyco_ui.config import get_settings
from galaxyco_ui.providers.base import ProviderAddressError
from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolError
from galaxyco_ui.tools.netguard import Resolver

# The openai and anthropic SDKs' own default (identical in both).
SDK_CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
_ADDRESSES_TRIED = 3


class VettedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to a vetted address of one origin (policy in the module docstring).

    Args:
        provider: the provider key, for the errors raised.
        allowed_private: ``host:port`` entries that may be loopback or private; None
            reads ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` from the settings.
        resolver: a fake DNS for tests; None uses ``netguard.system_resolver``.
    """

    def __init__(
        self,
        *,
        provider: str = "",
        allowed_private: frozenset[str] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._provider = provider
        self._allowed = get_settings().private_provider_hosts if allowed_private is None else allowed_private
        self._resolver = resolver
        self._origin: tuple[str, str, int | None] | None = None
        # One origin per client, so a pooled connection to an address only ever carries
        # requests for the one host name its TLS session was opened with.
        self._inner = httpx2.AsyncHTTPTransport(
            verify=shared_ssl_context(), limits=SDK_CONNECTION_LIMITS, trust_env=False
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Vet ``request.url`` and send the request to one of its vetted addresses.

        Raises:
            ProviderAddressError: another origin than the first request's, or an
                address the policy refuses.
            httpx2.ConnectError: none of the (first three) vetted addresses answered.
        """
        url = request.url
        origin = (url.scheme, url.host, url.port)
        if self._origin is None:
            self._origin = origin
        elif origin != self._origin:
            first = self._origin[1]
            raise ProviderAddressError(
                f"Refused a redirect from {first} to another host ({url.host}): a provider may only "
                "redirect within its base URL's host.",
                provider=self._provider,
            )
        try:
            target = await netguard.vet_provider_url(
                str(url), allowed_private=self._allowed, resolver=self._resolver
            )
        except ToolError as refused:
            raise ProviderAddressError(refused.message, provider=self._provider) from None
        failure: httpx2.ConnectError | None = None
        for address in target.addresses[:_ADDRESSES_TRIED]:
            extensions = dict(request.extensions)
            if url.scheme == "https":
                extensions["sni_hostname"] = target.host
            pinned = httpx2.Request(
                request.method,
                url.copy_with(host=str(address).split("%", 1)[0]),
                headers=request.headers,  # carries Host: the name and port as written
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx2.ConnectError as error:
                failure = error
        assert failure is not None  # vetting never returns an empty address list
        raise failure

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


class SyncRequestsRefused(httpx2.BaseTransport):
    """For SDKs that insist on a synchronous client too (google-genai): we only use async."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Refuse: synchronous requests would bypass the vetted async transport.

        Raises:
            ProviderAddressError: always.
        """
        raise ProviderAddressError("Synchronous provider requests are not supported.")


def sdk_http_client(
    timeout_seconds: float, *, provider: str = "", resolver: Resolver | None = None
) -> httpx2.AsyncClient:
    """An async HTTP client for the provider SDKs, through a ``VettedTransport``.

    Args:
        timeout_seconds: the SDK's default request timeout.
        provider: the provider key, for the errors raised.
        resolver: a fake DNS for tests.

    It carries the SDKs' default limits and redirect policy (redirects followed, within
    the first request's origin only), and the shared TLS context.
    """
    return httpx2.AsyncClient(
        transport=VettedTransport(provider=provider, resolver=resolver),
        timeout=timeout_seconds,
        follow_redirects=True,
        trust_env=False,
    )


def sdk_sync_http_client() -> httpx2.Client:
    """A synchronous client that refuses every request (see ``SyncRequestsRefused``)."""
    return httpx2.Client(transport=SyncRequestsRefused(), trust_env=False)


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verification context (certifi CA bundle), built once."""
    return httpx2.create_ssl_context()
