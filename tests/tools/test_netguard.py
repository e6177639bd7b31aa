"""netguard's provider base URL policy (``vet_provider_url``), and the never-list it shares
with ``http_request``. A fake DNS (``resolver``) stands in for the network."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolContext, ToolError
from galaxyco_ui.tools.http_request import HttpRequestTool


def fake_dns(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


def blocking_dns(table: dict[str, list[str]]) -> netguard.BlockingResolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "ollama.internal": ["10.0.0.5"],
    "api.vendor.test": ["93.184.216.34"],
    "mixed.vendor.test": ["93.184.216.34", "192.168.1.20"],
    "metadata.google.internal": ["169.254.169.254"],
    "sneaky.vendor.test": ["169.254.169.254"],
    "aws6.vendor.test": ["fd00:ec2::254"],
}


async def vet(url: str, *allowed: str) -> netguard.Target:
    return await netguard.vet_provider_url(url, allowed_private=frozenset(allowed), resolver=fake_dns(DNS))


@pytest.mark.parametrize(
    ("url", "entry", "reason"),
    [
        (
            "http://localhost:11434/v1",
            "localhost:11434",
            "localhost resolves to 127.0.0.1, a loopback address",
        ),
        ("http://127.0.0.1:8000/v1", "127.0.0.1:8000", "127.0.0.1 is a loopback address"),
        ("http://ollama.internal:11434", "ollama.internal:11434", "resolves to 10.0.0.5, a private address"),
        (
            "https://mixed.vendor.test/v1",
            "mixed.vendor.test:443",
            "resolves to 192.168.1.20, a private address",
        ),
        ("http://[::1]:8000", "[::1]:8000", "::1 is a loopback address"),
        (
            "http://[::ffff:127.0.0.1]:8000",
            "[::ffff:127.0.0.1]:8000",
            "::ffff:127.0.0.1 is an IPv6 form of 127.0.0.1, a loopback address",
        ),
        ("http://[64:ff9b::a00:5]/", "[64:ff9b::a00:5]:80", "an IPv6 form of 10.0.0.5, a private address"),
        ("http://100.64.0.1:8000", "100.64.0.1:8000", "a shared (carrier-grade NAT) address"),
    ],
)
async def test_private_base_urls_are_refused_with_the_entry_that_would_allow_them(
    url: str, entry: str, reason: str
) -> None:
    with pytest.raises(ToolError) as caught:
        await vet(url)
    message = caught.value.message
    assert reason in message
    assert f"ALLOWED_PRIVATE_PROVIDER_HOSTS={entry}" in message


@pytest.mark.parametrize(
    ("url", "entry"),
    [
        ("http://localhost:11434/v1", "localhost:11434"),
        ("http://LocalHost:11434/v1", "localhost:11434"),
        ("http://ollama.internal:11434", "ollama.internal:11434"),
        ("http://[::1]:8000", "[::1]:8000"),
        ("http://[::ffff:127.0.0.1]:8000", "[::ffff:127.0.0.1]:8000"),
    ],
)
async def test_a_listed_host_and_port_is_allowed_with_its_resolved_addresses(url: str, entry: str) -> None:
    target = await vet(url, entry)
    assert target.addresses  # the only addresses the caller may connect to
    assert target.port == int(entry.rsplit(":", 1)[1])


async def test_the_allowance_is_for_the_listed_port_and_name_only() -> None:
    with pytest.raises(ToolError, match="ALLOWED_PRIVATE_PROVIDER_HOSTS=localhost:11435"):
        await vet("http://localhost:11435/v1", "localhost:11434")
    with pytest.raises(ToolError, match="ALLOWED_PRIVATE_PROVIDER_HOSTS=localhost:8000"):
        await vet("http://localhost:8000/v1", "127.0.0.1:8000")  # names are matched as written


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "http://169.254.169.254/latest",
            "169.254.169.254 is a link-local address (the cloud metadata service)",
        ),
        ("http://169.254.1.1:8000/", "169.254.1.1 is a link-local address"),
        ("http://[fe80::1]:8000/", "fe80::1 is a link-local address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a private address"),
        ("http://100.100.100.200/", "100.100.100.200 is a shared (carrier-grade NAT) address"),
        ("http://168.63.129.16/", "168.63.129.16 is a cloud metadata service address"),
        ("http://[::ffff:169.254.169.254]/", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("http://[::ffff:a9fe:a9fe]/", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("http://metadata.google.internal/", "metadata.google.internal is a cloud metadata service name"),
        ("http://sneaky.vendor.test/", "sneaky.vendor.test resolves to 169.254.169.254"),
        ("http://aws6.vendor.test/", "aws6.vendor.test resolves to fd00:ec2::254"),
    ],
)
async def test_link_local_and_metadata_addresses_are_never_allowed_even_when_listed(
    url: str, reason: str
) -> None:
    _, host, port = netguard.parse_url(url, ports=None)
    entry = netguard.host_port(host, port)
    with pytest.raises(ToolError) as caught:
        await vet(url, entry)
    assert reason in caught.value.message
    assert "can never point there (not even with ALLOWED_PRIVATE_PROVIDER_HOSTS)" in caught.value.message


async def test_metadata_host_names_are_refused_whatever_they_resolve_to() -> None:
    dns = fake_dns({"metadata.google.internal": ["93.184.216.34"]})
    with pytest.raises(ToolError, match="metadata.google.internal is a cloud metadata service name"):
        await netguard.vet_provider_url(
            "http://metadata.google.internal/",
            allowed_private=frozenset({"metadata.google.internal:80"}),
            resolver=dns,
        )


async def test_public_hosts_may_use_any_port() -> None:
    target = await vet("http://api.vendor.test:8000/v1")
    assert [str(a) for a in target.addresses] == ["93.184.216.34"]
    assert target.port == 8000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.vendor.test/", "Only http and https URLs are allowed"),
        ("http://user:pw@api.vendor.test/", "user name or password"),
        ("http://nowhere.test/", "Could not resolve the host name 'nowhere.test'"),
    ],
)
async def test_malformed_or_unresolvable_base_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await vet(url, "nowhere.test:80")


def test_the_blocking_variant_for_saving_applies_the_same_rules() -> None:
    allowed = frozenset({"localhost:11434"})
    resolver = blocking_dns(DNS)
    target = netguard.vet_provider_url_blocking(
        "http://localhost:11434/v1", allowed_private=allowed, resolver=resolver
    )
    assert {str(a) for a in target.addresses} == {"127.0.0.1", "::1"}
    with pytest.raises(ToolError, match="ALLOWED_PRIVATE_PROVIDER_HOSTS=ollama.internal:11434"):
        netguard.vet_provider_url_blocking(
            "http://ollama.internal:11434", allowed_private=allowed, resolver=resolver
        )
    with pytest.raises(ToolError, match="can never point there"):
        netguard.vet_provider_url_blocking(
            "http://sneaky.vendor.test/",
            allowed_private=frozenset({"sneaky.vendor.test:80"}),
            resolver=resolver,
        )


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://168.63.129.16/", "http://[fd00:ec2::254]/"]
)
async def test_http_request_cannot_be_allowed_onto_metadata_addresses_either(url: str) -> None:
    tool = HttpRequestTool(allow=lambda _address, _hop: True)  # even the test seam cannot open these
    ctx = ToolContext(workspace_id="ws1", run_id="run1", agent_id="agent1", user_id="user1")
    with pytest.raises(ToolError, match="only public addresses are allowed"):
        await tool.call({"url": url}, ctx)
