"""Which URLs may receive webhooks: ``tools.netguard``'s rules, the provider allowance.

A receiver URL is http or https without credentials, on any port, and every address its
host resolves to must be public (the same resolver and address rules as the
``http_request`` tool and provider base URLs). Loopback and private ``host:port`` pairs
are allowed only when the operator lists them in ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` (one
allowance for everything an admin points at the local network); link-local and cloud
metadata addresses never are. The URL is vetted when it is saved and again before every
delivery, and the connection goes to the vetted address (no DNS rebinding).
"""

from __future__ import annotations

import httpx

from galaxyco_ui.config import get_settings
from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolError
from galaxyco_ui.tools.netguard import AddressRefused, AllowPredicate, Target


class WebhookUrlRefused(Exception):
    """The URL is malformed or its address is refused; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def vet_webhook_url(url: str) -> Target:
    """Vet a receiver URL before a delivery; connect only to the returned addresses.

    Raises:
        WebhookUrlRefused: the URL or its address is refused.
    """
    try:
        parsed, host, port = netguard.parse_url(url, ports=None)
        # Looked up at call time, so a test can replace the resolver.
        return await netguard.vet_url(
            parsed, resolver=netguard.system_resolver, allow=_allow(host, port), ports=None
        )
    except AddressRefused as refused:
        raise WebhookUrlRefused(_refusal(refused)) from None
    except ToolError as error:
        raise WebhookUrlRefused(error.message) from None


def webhook_url_problem(url: str) -> str:
    """Why ``url`` may not receive webhooks, or "" when it may (resolves the host, blocking)."""
    try:
        parsed, host, port = netguard.parse_url(url, ports=None)
        netguard.vet_url_blocking(
            parsed, resolver=netguard.blocking_resolver, allow=_allow(host, port), ports=None
        )
    except AddressRefused as refused:
        return _refusal(refused)
    except ToolError as error:
        return error.message
    return ""


def _allow(host: str, port: int) -> AllowPredicate | None:
    if netguard.host_port(host, port) not in get_settings().private_provider_hosts:
        return None
    return lambda _address, _hop: True


def _refusal(refused: AddressRefused) -> str:
    if refused.never:
        return f"{refused.subject} {refused.reason}: webhooks can never be sent there."
    entry = netguard.host_port(refused.host, refused.port)
    return (
        f"{refused.subject} {refused.reason}. Local and private servers are refused unless the "
        f"server's operator allows them: set {netguard.PRIVATE_HOSTS_VARIABLE}={entry} and restart GalaxyCo."
    )


def shown_url(url: str) -> str:
    """The URL as logs may show it: scheme, host and port only (a path may hold a token)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(invalid URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
