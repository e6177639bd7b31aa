"""Which URLs an agent may fetch: public http(s) addresses on web ports, nothing else.

``vet_url`` is the whole policy (server-side request forgery defence) in one call:

1. the scheme is ``http`` or ``https``; the URL carries no ``user:password@``
   (parsers disagree about it, a classic way to smuggle a different host);
2. the port is one of ``ALLOWED_PORTS`` (80, 443, 8080, 8443): ordinary web servers,
   and not the database, cache or admin ports that live next to them;
3. the host is resolved once (``getaddrinfo`` in the loop's thread pool) and *every*
   address it resolves to must be public: not loopback, private (RFC 1918, fc00::/7),
   link-local (169.254/16 with the cloud metadata service, fe80::/10), shared CGNAT
   (100.64/10), multicast, reserved, unspecified or otherwise special-purpose, and not
   one of those embedded in IPv6 (``::ffff:127.0.0.1``, NAT64, 6to4).

The caller then connects to one of the returned, vetted addresses rather than the name,
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
redirect it. Numeric host spellings (``2130706433``, ``0x7f.1``, ``127.1``) are whatever
the resolver makes of them: the address it returns is what gets vetted and used.

``resolver`` and ``allow`` are seams for tests (a fake DNS; permitting the local test
server); production passes neither, and nothing non-public is ever allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from galaxyco_ui.tools.base import ToolError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
AllowPredicate = Callable[[Address, int], bool]
"""``allow(address, hop)``: permit a non-public ``address`` at redirect ``hop`` (0 first)."""

ALLOWED_SCHEMES = frozenset({"http", "https"})
ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})

_METADATA = ipaddress.IPv4Address("169.254.169.254")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver (``getaddrinfo``, run in a thread).

    Returns:
        The distinct addresses, in the resolver's order.

    Raises:
        OSError: the name does not resolve (``socket.gaierror``).
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def non_public_reason(address: Address) -> str | None:
    """Say why ``address`` is not a public internet address, or None when it is.

    Returns:
        A phrase such as ``"a loopback address"``, or None for a public address.
    """
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # The IPv4 address is what the connection reaches: it alone decides.
        inner = non_public_reason(embedded)
        return None if inner is None else f"an IPv6 form of {embedded}, {inner}"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address == _METADATA:
        return "a link-local address (the cloud metadata service)"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if any(address in network for network in _RFC1918) or (
        isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL
    ):
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a special-purpose (non-public) address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the policy, and the addresses that may be used to reach it.

    Attributes:
        url: the URL as requested (with the host name, for the Host header and SNI).
        host: the host as sent on the wire (IDNA-encoded; no brackets around IPv6).
        port: the effective port.
        addresses: every address the host resolved to; all of them were vetted.
    """

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[Address, ...]


def parse_url(url: str | httpx.URL, *, ports: frozenset[int] = ALLOWED_PORTS) -> tuple[httpx.URL, str, int]:
    """Check a URL's form (scheme, credentials, host, port) without resolving it.

    Returns:
        The parsed URL, its host and its effective port.

    Raises:
        ToolError: the URL is malformed or outside the policy.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise ToolError(f"Invalid URL {str(url)[:200]!r}: {error}") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        shown = parsed.scheme or "(none)"
        raise ToolError(f"Only http and https URLs are allowed, not scheme {shown!r}")
    if parsed.userinfo:
        raise ToolError(
            "URLs with a user name or password (user:pass@host) are not allowed; send an Authorization header instead"
        )
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise ToolError(f"The URL {str(parsed)[:200]!r} has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if port not in ports:
        allowed = ", ".join(str(p) for p in sorted(ports))
        raise ToolError(f"Port {port} is not allowed; only ports {allowed} can be used")
    return parsed, host, port


async def vet_url(
    url: str | httpx.URL,
    *,
    resolver: Resolver = system_resolver,
    allow: AllowPredicate | None = None,
    ports: frozenset[int] = ALLOWED_PORTS,
    hop: int = 0,
) -> Target:
    """Apply the whole policy to ``url`` and resolve it once.

    Args:
        url: the URL to vet.
        resolver: returns the addresses of a host name (tests inject a fake DNS).
        allow: test seam that permits a non-public address at a given redirect hop.
        ports: the allowed ports (tests add the local server's port).
        hop: 0 for the URL the model gave, 1.. for each redirect (passed to ``allow``).

    Returns:
        The target, whose addresses are the only ones the caller may connect to.

    Raises:
        ToolError: the URL is malformed, outside the policy, does not resolve, or any
            of its addresses is not public.
    """
    parsed, host, port = parse_url(url, ports=ports)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            resolved = await resolver(host, port)
        except (OSError, UnicodeError):
            raise ToolError(f"Could not resolve the host name {host!r}") from None
        addresses = []
        for text in resolved:
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                raise ToolError(f"The host name {host!r} resolved to an invalid address") from None
        if not addresses:
            raise ToolError(f"Could not resolve the host name {host!r}")

    for address in addresses:
        reason = non_public_reason(address)
        if reason is not None and not (allow is not None and allow(address, hop)):
            subject = f"{host} is" if literal is not None else f"{host} resolves to {address},"
            raise ToolError(f"{subject} {reason}; only public addresses are allowed")
    return Target(url=parsed, host=host, port=port, addresses=tuple(addresses))
