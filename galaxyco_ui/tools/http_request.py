"""GET or POST a public web address and read the response as text.

Safety (see ``netguard`` for the address policy):

- every URL, the first and each redirect hop, goes through ``netguard.vet_url``;
  redirects are followed here, by hand, at most ``max_redirects`` (5) times;
- the connection goes to the vetted IP address, never to the name (no second DNS
  lookup to rebind), with the original ``Host`` header and, for https, the original
  name as TLS SNI and for certificate verification;
- ports 80, 443, 8080 and 8443 only; no proxy from the environment (``trust_env`` off);
- 10 s for the whole call (DNS, every hop, the body); at most 1 MB of body is read,
  streamed, and the rest is never downloaded; ``Accept-Encoding: identity`` so that
  limit is close to what crosses the wire;
- the model may set headers (``Authorization`` included, dropped on a redirect to
  another origin) but not ``Host``, hop-by-hop headers, ``Content-Length`` or
  ``Accept-Encoding``.

The content sent to the model is a short status block and the body decoded by its
charset (JSON pretty-printed; binary bodies described, not dumped).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.catalog import tool_info
from galaxyco_ui.tools.http_content import MAX_REQUEST_BODY_BYTES, clean_headers, encode_body, render_body
from galaxyco_ui.tools.netguard import AllowPredicate, Resolver, Target

_INFO = tool_info("http_request")

MAX_RESPONSE_BYTES = 1_000_000
MAX_REDIRECTS = 5
REQUEST_TIMEOUT_SECONDS = 10.0
USER_AGENT = "GalaxyCo-Agent/0.1"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_DROPPED = frozenset({"authorization", "cookie"})


@dataclass(frozen=True, slots=True)
class _Fetched:
    url: httpx.URL
    status: int
    reason: str
    content_type: str
    charset: str | None
    body: bytes
    truncated: bool
    location: str = ""


class HttpRequestTool(Tool):
    """Fetches public web addresses for the model (policy in the module docstring)."""

    name = _INFO.name
    description = (
        f"{_INFO.description} Sends a GET or POST to a public http(s) URL (ports 80, 443, 8080, "
        "8443) and returns the status and the response body as text (JSON pretty-printed, at "
        "most 1 MB read). Follows up to 5 redirects. Private, local and cloud-internal "
        "addresses are refused. For POST, pass either json (an object) or body (text)."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "The http or https URL.", "maxLength": 2048},
            "method": {"type": "string", "enum": ["GET", "POST"], "description": "Default GET."},
            "headers": {
                "type": "object",
                "description": "Extra request headers (not Host or hop-by-hop headers).",
                "additionalProperties": {"type": "string", "maxLength": 4096},
                "maxProperties": 20,
            },
            "json": {"type": "object", "description": "POST only: a JSON object sent as the body."},
            "body": {
                "type": "string",
                "description": "POST only: a text body (Content-Type text/plain unless a header says otherwise).",
                "maxLength": MAX_REQUEST_BODY_BYTES,
            },
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    # The request stops itself after request_timeout; this is the registry's backstop.
    timeout_seconds = REQUEST_TIMEOUT_SECONDS + 5
    max_result_chars = 20_000

    def __init__(
        self,
        *,
        resolver: Resolver = netguard.system_resolver,
        allow: AllowPredicate | None = None,
        ports: frozenset[int] = netguard.ALLOWED_PORTS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        """Create the tool; production uses the defaults.

        Args:
            resolver: host name → addresses (tests inject a fake DNS).
            allow: test seam permitting a non-public address at a redirect hop.
            ports: the allowed ports (tests add the local server's port).
            request_timeout: seconds for the whole call, all hops and the body included.
            max_response_bytes: body bytes read before the download is stopped.
            max_redirects: redirects followed before giving up.
        """
        self._resolver = resolver
        self._allow = allow
        self._ports = ports
        self._request_timeout = request_timeout
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Perform the request described by ``arguments``.

        Returns:
            The status block and body as ``content``; ``data`` holds ``status``, ``url``
            (after redirects), ``content_type``, ``bytes`` (read), ``truncated`` and
            ``redirects``. A 4xx/5xx answer is a result, not an error: the model reads it.

        Raises:
            ToolError: the URL or a redirect was refused, or the request failed or
                timed out.
        """
        method: str = arguments.get("method", "GET")
        headers = clean_headers(arguments.get("headers") or {})
        body = encode_body(method, arguments, headers)
        url, _, _ = netguard.parse_url(arguments["url"], ports=self._ports)
        try:
            async with asyncio.timeout(self._request_timeout):
                fetched, redirects = await self._follow(url, method, headers, body)
        except TimeoutError:
            raise ToolError(
                f"The request to {url.host} timed out after {self._request_timeout:g} seconds"
            ) from None

        text = render_body(fetched.body, fetched.content_type, fetched.charset)
        lines = [f"HTTP {fetched.status} {fetched.reason}".rstrip(), f"URL: {fetched.url}"]
        if fetched.content_type:
            lines.append(f"Content-Type: {fetched.content_type}")
        if fetched.truncated:
            lines.append(
                f"(response larger than {self._max_response_bytes} bytes: only the first part was read)"
            )
        return ToolResult(
            content="\n".join(lines) + "\n\n" + text,
            data={
                "status": fetched.status,
                "url": str(fetched.url),
                "content_type": fetched.content_type,
                "bytes": len(fetched.body),
                "truncated": fetched.truncated,
                "redirects": redirects,
            },
        )

    async def _follow(
        self, url: httpx.URL, method: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[_Fetched, int]:
        """Request ``url``, vetting and following each redirect by hand."""
        # No keep-alive: a pooled connection to an IP must never carry another host's
        # request under the first host's TLS name.
        async with httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=0)),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self._request_timeout),
        ) as client:
            for hop in range(self._max_redirects + 1):
                try:
                    target = await netguard.vet_url(
                        url, resolver=self._resolver, allow=self._allow, ports=self._ports, hop=hop
                    )
                except ToolError as error:
                    if hop == 0:
                        raise
                    raise ToolError(f"Refused to follow the redirect to {url}: {error.message}") from None
                fetched = await self._fetch(client, target, method, headers, body)
                if not fetched.location:
                    return fetched, hop
                next_url = url.join(fetched.location)
                if fetched.status == 303 or (fetched.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
                    headers = {k: v for k, v in headers.items() if k.lower() not in _CROSS_ORIGIN_DROPPED}
                url = next_url
        raise ToolError(f"Too many redirects (more than {self._max_redirects})")

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        target: Target,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> _Fetched:
        """Send one request to the first vetted address that accepts a connection.

        For a redirect the body is not read; ``location`` holds the Location header.
        """
        failure = "connection failed"
        for address in target.addresses[:3]:
            request = build_request(client, target, address, method, headers, body)
            try:
                return await self._send(client, request, target)
            except httpx.ConnectError as error:
                failure = (
                    "TLS certificate verification failed"
                    if "CERTIFICATE" in str(error)
                    else "connection failed"
                )
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError as error:
                raise ToolError(f"The request to {target.host} failed: {type(error).__name__}") from None
        raise ToolError(f"Could not connect to {target.host} on port {target.port} ({failure})")

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request, target: Target) -> _Fetched:
        response = await client.send(request, stream=True)
        try:
            url = target.url
            location = response.headers.get("location", "")
            if response.status_code in _REDIRECTS and location:
                return _Fetched(
                    url, response.status_code, response.reason_phrase, "", None, b"", False, location
                )
            chunks: list[bytes] = []
            size, truncated = 0, False
            async for chunk in response.aiter_bytes():
                room = self._max_response_bytes - size
                if len(chunk) > room:
                    chunks.append(chunk[:room])
                    size, truncated = self._max_response_bytes, True
                    break  # stop downloading: closing the response drops the connection
                chunks.append(chunk)
                size += len(chunk)
            return _Fetched(
                url=url,
                status=response.status_code,
                reason=response.reason_phrase,
                content_type=response.headers.get("content-type", ""),
                charset=response.charset_encoding,
                body=b"".join(chunks),
                truncated=truncated,
            )
        finally:
            await response.aclose()


def build_request(
    client: httpx.AsyncClient,
    target: Target,
    address: netguard.Address,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
) -> httpx.Request:
    """Build a request for ``target`` that connects to ``address``.

    The URL's host is replaced by the vetted address; the ``Host`` header keeps the
    original name (and port), and for https the original name is the TLS SNI and the
    name the certificate is checked against.
    """
    netloc = target.url.netloc.decode("ascii")
    defaults = {} if any(k.lower() == "user-agent" for k in headers) else {"User-Agent": USER_AGENT}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return client.build_request(
        method,
        target.url.copy_with(host=str(address).split("%", 1)[0]),
        headers={**defaults, **headers, "Host": netloc, "Accept-Encoding": "identity"},
        content=body,
        extensions=extensions,
    )
