"""The client's address, the one place that decides whether to believe X-Forwarded-For.

``X-Forwarded-For`` is written by whoever sent the request, so it is ignored unless
the operator says how many reverse proxies stand in front of the app
(``TRUSTED_PROXY_HOPS``). Each proxy appends the address it received the request
from, so with N trusted proxies the client is the Nth entry from the right; entries
further left were written by the client and prove nothing. With 0 (the default) the
address is the socket peer.

Both transports use it: the API routes (``client_address_of(request)``) and the Reflex
states (``states/session.py`` passes the websocket handshake's peer and header).
Rate limits and audit entries key on its result.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from galaxyco_ui.config import get_settings

MAX_ADDRESS_LENGTH = 64


def client_address(peer: str, forwarded_for: str = "", *, hops: int | None = None) -> str:
    """The client's address for a request from ``peer`` carrying ``forwarded_for``.

    Args:
        peer: the socket peer's address (the last proxy's, behind a proxy).
        forwarded_for: the X-Forwarded-For value (several headers joined by commas).
        hops: trusted proxies in front of the app; ``TRUSTED_PROXY_HOPS`` when None.

    Returns:
        The Nth address from the right of ``forwarded_for`` when ``hops`` is N > 0 and
        the header holds at least N valid entries; otherwise ``peer`` (a request that
        did not pass through every proxy, or a malformed header, is not trusted).
    """
    if hops is None:
        hops = get_settings().trusted_proxy_hops
    peer = (peer or "")[:MAX_ADDRESS_LENGTH]
    if hops <= 0 or not forwarded_for:
        return peer
    entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
    if len(entries) < hops:
        return peer
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def client_address_of(conn: HTTPConnection) -> str:
    """The client's address for an API request (see ``client_address``)."""
    peer = conn.client.host if conn.client else ""
    return client_address(peer, ",".join(conn.headers.getlist("x-forwarded-for")))
