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

Some addresses are never reachable, whatever ``allow`` says (``never_reason``): link-local
ones (169.254/16, fe80::/10) and the cloud metadata services (169.254.169.254,
fd00:ec2::254, 100.100.100.200, 168.63.129.16, ... and names such as
``metadata.google.internal``), in any IPv6 disguise.

Provider base URLs (``vet_provider_url``; ``vet_provider_url_blocking`` at save time) use
the same resolver and address rules with two differences: any port is fine (a vLLM or
Ollama endpoint rarely listens on a web port; the address rule alone keeps internal
services out), and the operator may open loopback or private ``host:port`` pairs with
``ALLOWED_PRIVATE_PROVIDER_HOSTS`` (matched against the host exactly as the base URL
writes it, lower-cased, e.g. ``localhost:11434``). A refusal names that variable.
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
BlockingResolver = Callable[[str, int], Sequence[str]]
AllowPredicate = Callable[[Address, int], bool]
"""``allow(address, hop)``: permit a non-public ``address`` at redirect ``hop`` (0 first)."""

ALLOWED_SCHEMES = frozenset({"http", "https"})
ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})

PRIVATE_HOSTS_VARIABLE = "ALLOWED_PRIVATE_PROVIDER_HOSTS"

_METADATA = ipaddress.IPv4Address("169.254.169.254")
# Cloud instance metadata endpoints: AWS/GCP/Azure/OpenStack (169.254.169.254), AWS ECS
# tasks (169.254.170.2), AWS over IPv6 (fd00:ec2::254), Alibaba (100.100.100.200), Azure's
# WireServer (168.63.129.16, a public-range address), Oracle Cloud Classic (192.0.0.192).
METADATA_ADDRESSES: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
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


def blocking_resolver(host: str, port: int) -> list[str]:
    """``system_resolver`` for synchronous callers (it blocks the calling thread).

    Raises:
        OSError: the name does not resolve (``socket.gaierror``).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
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


def never_reason(address: Address) -> str | None:
    """Say why ``address`` may never be reached, even when an allow-list names it.

    Returns:
        A phrase for link-local and cloud metadata addresses (also inside an IPv6
        form), or None for every other address.
    """
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = never_reason(embedded)
        return None if inner is None else f"an IPv6 form of {embedded}, {inner}"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if address.is_link_local:
        return "a link-local address"
    return None


class AddressRefused(ToolError):
    """``vet_url`` refused an address; the parts let another policy word its own message.

    Attributes:
        host: the host as written in the URL (lower-case, no brackets).
        port: the effective port.
        subject: ``"<host> is"`` or ``"<host> resolves to <address>,"``.
        reason: why the address is not public (``non_public_reason``).
        never: the address is link-local or a metadata service: nothing may allow it.
    """

    def __init__(self, *, host: str, port: int, subject: str, reason: str, never: bool) -> None:
        super().__init__(f"{subject} {reason}; only public addresses are allowed")
        self.host, self.port, self.subject, self.reason, self.never = host, port, subject, reason, never


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


def parse_url(
    url: str | httpx.URL, *, ports: frozenset[int] | None = ALLOWED_PORTS
) -> tuple[httpx.URL, str, int]:
    """Check a URL's form (scheme, credentials, host, port) without resolving it.

    Args:
        url: the URL to check.
        ports: the allowed ports; None allows any.

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
    if ports is not None and port not in ports:
        allowed = ", ".join(str(p) for p in sorted(ports))
        raise ToolError(f"Port {port} is not allowed; only ports {allowed} can be used")
    return parsed, host, port


async def vet_url(
    url: str | httpx.URL,
    *,
    resolver: Resolver = system_resolver,
    allow: AllowPredicate | None = None,
    ports: frozenset[int] | None = ALLOWED_PORTS,
    hop: int = 0,
) -> Target:
    """Apply the whole policy to ``url`` and resolve it once.

    Args:
        url: the URL to vet.
        resolver: returns the addresses of a host name (tests inject a fake DNS).
        allow: permits a non-public address at a given redirect hop (never a link-local
            or metadata one).
        ports: the allowed ports (tests add the local server's port); None allows any.
        hop: 0 for the URL the model gave, 1.. for each redirect (passed to ``allow``).

    Returns:
        The target, whose addresses are the only ones the caller may connect to.

    Raises:
        AddressRefused: an address the host is or resolves to is not allowed.
        ToolError: the URL is malformed, outside the policy or does not resolve.
    """
    parsed, host, port = parse_url(url, ports=ports)
    literal = _literal(host)
    resolved: Sequence[str] = ()
    if literal is None:
        try:
            resolved = await resolver(host, port)
        except (OSError, UnicodeError):
            raise ToolError(f"Could not resolve the host name {host!r}") from None
    return _vet_addresses(parsed, host, port, literal, resolved, allow, hop)


def vet_url_blocking(
    url: str | httpx.URL,
    *,
    resolver: BlockingResolver = blocking_resolver,
    allow: AllowPredicate | None = None,
    ports: frozenset[int] | None = ALLOWED_PORTS,
) -> Target:
    """``vet_url`` for synchronous callers (resolves in the calling thread).

    Raises:
        AddressRefused, ToolError: as ``vet_url``.
    """
    parsed, host, port = parse_url(url, ports=ports)
    literal = _literal(host)
    resolved: Sequence[str] = ()
    if literal is None:
        try:
            resolved = resolver(host, port)
        except (OSError, UnicodeError):
            raise ToolError(f"Could not resolve the host name {host!r}") from None
    return _vet_addresses(parsed, host, port, literal, resolved, allow, 0)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _vet_addresses(
    parsed: httpx.URL,
    host: str,
    port: int,
    literal: Address | None,
    resolved: Sequence[str],
    allow: AllowPredicate | None,
    hop: int,
) -> Target:
    """Check every address of ``host`` (``literal``, or what it ``resolved`` to)."""
    addresses: list[Address] = []
    if literal is not None:
        addresses.append(literal)
    else:
        for text in resolved:
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                raise ToolError(f"The host name {host!r} resolved to an invalid address") from None
        if not addresses:
            raise ToolError(f"Could not resolve the host name {host!r}")
    if literal is None and host.rstrip(".") in METADATA_HOSTS:
        raise AddressRefused(
            host=host, port=port, subject=f"{host} is", reason="a cloud metadata service name", never=True
        )
    for address in addresses:
        never = never_reason(address)
        reason = non_public_reason(address) or never
        if reason is not None and (never is not None or allow is None or not allow(address, hop)):
            subject = f"{host} is" if literal is not None else f"{host} resolves to {address},"
            raise AddressRefused(
                host=host, port=port, subject=subject, reason=reason, never=never is not None
            )
    return Target(url=parsed, host=host, port=port, addresses=tuple(addresses))


# ---------------------------------------------------------------- provider base URLs


def host_port(host: str, port: int) -> str:
    """The ``host:port`` entry ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` would need (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def vet_provider_url(
    url: str | httpx.URL, *, allowed_private: frozenset[str], resolver: Resolver | None = None
) -> Target:
    """Vet a provider (or embedding) base URL, or one of its requests, at connect time.

    Args:
        url: the URL about to be requested.
        allowed_private: ``Settings.private_provider_hosts`` (lower-case ``host:port``).
        resolver: a fake DNS for tests; None uses ``system_resolver``, looked up at call
            time so a test can replace it for code that does not pass one.

    Returns:
        The target; connect only to its addresses.

    Raises:
        ToolError: the URL is malformed or its address is refused (the message names
            ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` when listing the host would allow it).
    """
    parsed, host, port = parse_url(url, ports=None)
    allow = _provider_allow(host, port, allowed_private)
    try:
        return await vet_url(parsed, resolver=resolver or system_resolver, allow=allow, ports=None)
    except AddressRefused as refused:
        raise ToolError(provider_refusal(refused)) from None


def vet_provider_url_blocking(
    url: str | httpx.URL, *, allowed_private: frozenset[str], resolver: BlockingResolver | None = None
) -> Target:
    """``vet_provider_url`` for synchronous callers (saving a base URL)."""
    parsed, host, port = parse_url(url, ports=None)
    allow = _provider_allow(host, port, allowed_private)
    try:
        return vet_url_blocking(parsed, resolver=resolver or blocking_resolver, allow=allow, ports=None)
    except AddressRefused as refused:
        raise ToolError(provider_refusal(refused)) from None


def provider_refusal(refused: AddressRefused) -> str:
    """The message for a provider base URL refused by the address rules."""
    if refused.never:
        return (
            f"{refused.subject} {refused.reason}: a provider base URL can never point there "
            f"(not even with {PRIVATE_HOSTS_VARIABLE})."
        )
    entry = host_port(refused.host, refused.port)
    return (
        f"{refused.subject} {refused.reason}. Local and private servers are refused unless the "
        f"server's operator allows them: set {PRIVATE_HOSTS_VARIABLE}={entry} (comma-separated "
        "host:port entries) and restart GalaxyCo."
    )


def _provider_allow(host: str, port: int, allowed_private: frozenset[str]) -> AllowPredicate | None:
    if host_port(host, port) not in allowed_private:
        return None
    return lambda _address, _hop: True
