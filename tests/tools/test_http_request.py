"""http_request reaches public addresses only, and reads responses within limits.

Network cases use a real local server on 127.0.0.1; the tool reaches it only through its
test seams (``allow``, ``ports``, ``resolver``). Production defaults refuse loopback, which
the first tests check without any seam.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence

import httpx
import pytest

from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolError
from galaxyco_ui.tools.http_content import render_body
from galaxyco_ui.tools.http_request import HttpRequestTool, build_request
from galaxyco_ui.tools.netguard import Target, non_public_reason, vet_url


def fake_resolver(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


def allow_loopback(address: netguard.Address, hop: int) -> bool:
    return str(address) == "127.0.0.1"


def allow_first_hop_only(address: netguard.Address, hop: int) -> bool:
    return hop == 0 and str(address) == "127.0.0.1"


def local_tool(server, **kwargs) -> HttpRequestTool:
    kwargs.setdefault("allow", allow_loopback)
    return HttpRequestTool(ports=frozenset({server.port}), **kwargs)


# ------------------------------------------------------------ the address policy


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost/", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.8.9.10/", "127.8.9.10 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is an unspecified address"),
        ("http://2130706433/", "2130706433 resolves to 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "0x7f.1 resolves to 127.0.0.1, a loopback address"),
        ("http://127.1/", "127.1 resolves to 127.0.0.1, a loopback address"),
        ("http://0/", "resolves to 0.0.0.0, an unspecified address"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://172.16.0.1/", "172.16.0.1 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://[fd00::1]/", "fd00::1 is a private address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address (the cloud metadata",
        ),
        ("http://169.254.1.1/", "169.254.1.1 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/", "ff02::1 is a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://255.255.255.255/", "255.255.255.255 is a reserved address"),
        ("http://192.0.2.10/", "192.0.2.10 is a special-purpose (non-public) address"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is an IPv6 form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "an IPv6 form of 10.0.0.1, a private address"),
        ("http://[64:ff9b::a00:1]/", "an IPv6 form of 10.0.0.1, a private address"),
        ("http://[2002:7f00:1::]/", "an IPv6 form of 127.0.0.1, a loopback address"),
    ],
)
async def test_non_public_addresses_are_refused_by_default(ctx, url: str, reason: str) -> None:
    with pytest.raises(ToolError) as caught:
        await HttpRequestTool().call({"url": url}, ctx)
    assert reason in caught.value.message
    assert caught.value.message.endswith("only public addresses are allowed")


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


async def test_a_name_resolving_to_a_private_address_is_refused(ctx) -> None:
    tool = HttpRequestTool(resolver=fake_resolver({"intranet.example.com": ["10.0.0.7"]}))
    with pytest.raises(ToolError, match="intranet.example.com resolves to 10.0.0.7, a private address"):
        await tool.call({"url": "https://intranet.example.com/admin"}, ctx)


async def test_one_bad_address_among_several_is_enough_to_refuse(ctx) -> None:
    resolver = fake_resolver({"mixed.example.com": ["93.184.216.34", "2606:2800::1", "127.0.0.1"]})
    with pytest.raises(ToolError, match="resolves to 127.0.0.1, a loopback address"):
        await HttpRequestTool(resolver=resolver).call({"url": "http://mixed.example.com/"}, ctx)


async def test_unresolvable_names_are_a_clear_error(ctx) -> None:
    with pytest.raises(ToolError, match="Could not resolve the host name 'nowhere.invalid'"):
        await HttpRequestTool(resolver=fake_resolver({})).call({"url": "http://nowhere.invalid/"}, ctx)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com:22/", "Port 22 is not allowed; only ports 80, 443, 8080, 8443"),
        ("http://example.com:6379/", "Port 6379 is not allowed"),
        ("https://example.com:80443/", "Port 80443 is not allowed"),
        ("http://[::1/", "Invalid URL"),
        ("ftp://example.com/file", "Only http and https URLs are allowed, not scheme 'ftp'"),
        ("file:///etc/passwd", "Only http and https URLs are allowed, not scheme 'file'"),
        ("gopher://127.0.0.1:70/", "not scheme 'gopher'"),
        ("example.com/path", "Only http and https URLs are allowed"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http:///nohost", "has no host"),
    ],
)
async def test_urls_outside_the_policy_are_refused_before_any_lookup(ctx, url: str, message: str) -> None:
    calls: list[str] = []
    tool = HttpRequestTool(resolver=fake_resolver({"example.com": ["93.184.216.34"]}, calls))
    with pytest.raises(ToolError, match=message.replace("(", r"\(")):
        await tool.call({"url": url}, ctx)
    assert calls == []


async def test_allowed_ports_resolve_and_vet(ctx) -> None:
    resolver = fake_resolver({"example.com": ["93.184.216.34"]})
    for port in (80, 443, 8080, 8443):
        target = await vet_url(f"https://example.com:{port}/", resolver=resolver)
        assert target.port == port
        assert target.addresses == (ipaddress.ip_address("93.184.216.34"),)


# ------------------------------------------------ connecting to the vetted address


def test_https_requests_go_to_the_vetted_ip_with_the_original_host_and_sni() -> None:
    target = Target(
        url=httpx.URL("https://Example.com:8443/a?b=1"),
        host="example.com",
        port=8443,
        addresses=(ipaddress.ip_address("93.184.216.34"),),
    )
    client = httpx.AsyncClient()
    request = build_request(client, target, target.addresses[0], "GET", {"X-Test": "1"}, None)
    assert str(request.url) == "https://93.184.216.34:8443/a?b=1"
    assert request.headers["host"] == "example.com:8443"
    assert request.headers["x-test"] == "1"
    assert request.headers["accept-encoding"] == "identity"
    assert request.extensions["sni_hostname"] == "example.com"


async def test_the_name_is_resolved_once_and_the_connection_uses_that_address(ctx, local_server) -> None:
    # A rebinding DNS: first answer is the (test-permitted) server, later ones private.
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    tool = local_tool(local_server, resolver=rebinding)
    result = await tool.call({"url": local_server.url("/echo", host="public.test")}, ctx)
    assert calls == ["public.test"]
    assert result.data["status"] == 200
    assert '"Host": "public.test:' in result.content


async def test_a_redirect_to_a_private_address_is_refused_at_the_hop(ctx, local_server) -> None:
    tool = local_tool(local_server, allow=allow_first_hop_only)
    bounce = local_server.url("/redirect?to=" + local_server.url("/json"))
    with pytest.raises(ToolError) as caught:
        await tool.call({"url": bounce}, ctx)
    message = caught.value.message
    assert message.startswith(f"Refused to follow the redirect to {local_server.url('/json')}")
    assert "127.0.0.1 is a loopback address; only public addresses are allowed" in message
    assert [path for _, path, _ in local_server.server.requests] == [
        bounce.split(str(local_server.port), 1)[1]
    ]


async def test_a_redirect_to_a_name_resolving_privately_is_refused(ctx, local_server) -> None:
    resolver = fake_resolver({"public.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    tool = local_tool(local_server, resolver=resolver, allow=allow_first_hop_only)
    bounce = local_server.url(
        f"/redirect?status=307&to=http://metadata.test:{local_server.port}/", "public.test"
    )
    with pytest.raises(ToolError, match="metadata.test resolves to 169.254.169.254, a link-local address"):
        await tool.call({"url": bounce}, ctx)


async def test_redirects_are_followed_and_counted(ctx, local_server) -> None:
    tool = local_tool(local_server)
    result = await tool.call({"url": local_server.url("/redirect?to=/json")}, ctx)
    assert result.data["status"] == 200
    assert result.data["redirects"] == 1
    assert result.data["url"] == local_server.url("/json")


async def test_too_many_redirects(ctx, local_server) -> None:
    with pytest.raises(ToolError, match=r"Too many redirects \(more than 5\)"):
        await local_tool(local_server).call({"url": local_server.url("/loop")}, ctx)
    assert len(local_server.server.requests) == 6


async def test_a_303_after_post_becomes_a_get_without_the_body(ctx, local_server) -> None:
    result = await local_tool(local_server).call(
        {"url": local_server.url("/redirect?status=303&to=/echo"), "method": "POST", "json": {"a": 1}}, ctx
    )
    assert '"method": "GET"' in result.content
    assert '"body": ""' in result.content


# ------------------------------------------------------------ requests and responses


async def test_json_is_pretty_printed(ctx, local_server) -> None:
    result = await local_tool(local_server).call({"url": local_server.url("/json")}, ctx)
    assert not result.is_error
    assert result.content.startswith("HTTP 200 OK\nURL: ")
    assert '{\n  "name": "Ada",\n  "tags": [\n    "a",\n    "b"\n  ],\n  "n": 1\n}' in result.content
    assert result.data == {
        "status": 200,
        "url": local_server.url("/json"),
        "content_type": "application/json",
        "bytes": 37,
        "truncated": False,
        "redirects": 0,
    }


async def test_post_json_and_custom_headers_are_sent(ctx, local_server) -> None:
    result = await local_tool(local_server).call(
        {
            "url": local_server.url("/echo"),
            "method": "POST",
            "json": {"q": "café"},
            "headers": {"Authorization": "Bearer t0ken", "X-Trace": "abc"},
        },
        ctx,
    )
    assert '"method": "POST"' in result.content
    assert '"Content-Type": "application/json"' in result.content
    assert '"Authorization": "Bearer t0ken"' in result.content
    assert '"User-Agent": "GalaxyCo-Agent/0.1"' in result.content
    assert '"body": "{\\"q\\": \\"café\\"}"' in result.content


async def test_text_is_decoded_by_its_charset(ctx, local_server) -> None:
    result = await local_tool(local_server).call({"url": local_server.url("/latin1")}, ctx)
    assert result.content.endswith("\n\ncafé crème")


async def test_binary_content_is_described_not_dumped(ctx, local_server) -> None:
    result = await local_tool(local_server).call({"url": local_server.url("/binary")}, ctx)
    assert result.content.endswith("[binary content of 108 bytes, type image/png]")


async def test_error_statuses_are_results_the_model_reads(ctx, local_server) -> None:
    result = await local_tool(local_server).call({"url": local_server.url("/missing")}, ctx)
    assert not result.is_error
    assert result.data["status"] == 404
    assert result.content.startswith("HTTP 404 Not Found")


async def test_a_large_response_stops_at_the_size_limit(ctx, local_server) -> None:
    result = await local_tool(local_server).call({"url": local_server.url("/big")}, ctx)
    assert result.data["bytes"] == 1_000_000
    assert result.data["truncated"] is True
    assert "only the first part was read" in result.content
    assert result.content.endswith("x" * 1000)


async def test_the_download_stops_at_the_limit_instead_of_reading_on(ctx, local_server) -> None:
    started = time.perf_counter()
    result = await local_tool(local_server).call({"url": local_server.url("/endless")}, ctx)
    assert result.data["bytes"] == 1_000_000
    assert result.data["truncated"] is True
    assert time.perf_counter() - started < 2
    # Socket buffers absorb a few MB (tens at most) before the server notices the hang-up;
    # a client that kept reading would have taken all 500 MB.
    assert local_server.server.big_bytes_sent < 100 * 1024 * 1024


async def test_a_slow_server_times_out(ctx, local_server) -> None:
    started = time.perf_counter()
    with pytest.raises(ToolError, match=r"timed out after 0.3 seconds"):
        await local_tool(local_server, request_timeout=0.3).call({"url": local_server.url("/sleep")}, ctx)
    assert time.perf_counter() - started < 2


async def test_a_closed_port_is_a_connection_error(ctx, local_server) -> None:
    from tests.smtp_server import free_port

    port = free_port()
    tool = HttpRequestTool(ports=frozenset({port}), allow=allow_loopback)
    with pytest.raises(ToolError, match=f"Could not connect to 127.0.0.1 on port {port}"):
        await tool.call({"url": f"http://127.0.0.1:{port}/"}, ctx)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"headers": {"Host": "internal"}}, "The Host header cannot be set"),
        ({"headers": {"transfer-encoding": "chunked"}}, "cannot be set"),
        ({"headers": {"Connection": "close"}}, "cannot be set"),
        ({"headers": {"X-Evil": "a\r\nHost: internal"}}, "line break"),
        ({"headers": {"Bad Name": "x"}}, "Invalid header name"),
        ({"json": {"a": 1}}, "only be sent with method POST"),
        ({"method": "POST", "json": {"a": 1}, "body": "x"}, "either json or body"),
    ],
)
async def test_bad_request_arguments_are_refused(ctx, arguments: dict, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await HttpRequestTool().call({"url": "http://example.com/", **arguments}, ctx)


def test_render_body_handles_truncated_json_and_unknown_types() -> None:
    assert render_body(b'{"a": [1, 2', "application/json", None) == '{"a": [1, 2'
    assert render_body(b"plain words", "", None) == "plain words"
    assert render_body(b"\x00\x01\x02", "", None) == "[binary content of 3 bytes, type unknown]"
    assert render_body("é".encode(), "text/plain; charset=bogus", "bogus") == "é"
    assert render_body(b'{"b":1}', "application/problem+json", None) == '{\n  "b": 1\n}'
