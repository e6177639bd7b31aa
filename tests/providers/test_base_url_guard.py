"""Connect-time vetting of provider base URLs (``providers.http.VettedTransport``), through
the real SDKs against the emulator: refused before anything is sent unless the operator
listed the host, connected to the vetted address, never redirected to another host."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.providers.base import ChatRequest, Message, ProviderAddressError, ProviderConfig
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.http import sdk_http_client
from galaxyco_ui.tools import netguard
from tests.emulator import emulator_host_port
from tests.providers.conftest import KINDS, MODELS, base_url, collect


def request(kind: str) -> ChatRequest:
    return ChatRequest(model=MODELS[kind], messages=(Message("user", "hello"),))


def rename(url: str, name: str) -> str:
    """``url`` with the emulator's 127.0.0.1 replaced by the host name ``name``."""
    return url.replace("127.0.0.1", name)


def resolving(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


@pytest.mark.parametrize("kind", KINDS)
async def test_every_sdk_refuses_an_unlisted_local_base_url_before_sending_anything(
    kind: str, emulator: Emulator, allow_provider_hosts
) -> None:
    allow_provider_hosts()  # the operator lists nothing
    provider = make_provider(ProviderConfig(kind, "sk-test-key-1234", base_url=base_url(emulator, kind)))
    try:
        with pytest.raises(ProviderAddressError) as caught:
            await collect(provider, request(kind))
    finally:
        await provider.aclose()
    message = caught.value.message
    assert "127.0.0.1 is a loopback address" in message
    assert f"ALLOWED_PRIVATE_PROVIDER_HOSTS={emulator_host_port(emulator)}" in message
    assert not caught.value.retryable
    assert emulator.requests == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_name_that_resolves_to_loopback_at_connect_is_refused_though_it_looked_public(
    kind: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name was public when the URL was saved; now it points home."""
    url = rename(base_url(emulator, kind), "llm.rebind.test")
    monkeypatch.setattr(netguard, "system_resolver", resolving({"llm.rebind.test": ["127.0.0.1"]}))
    provider = make_provider(ProviderConfig(kind, "sk-test-key-1234", base_url=url))
    try:
        with pytest.raises(ProviderAddressError, match="llm.rebind.test resolves to 127.0.0.1, a loopback"):
            await collect(provider, request(kind))
    finally:
        await provider.aclose()
    assert emulator.requests == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_listed_name_is_reached_at_its_vetted_address_with_its_own_host_header(
    kind: str, emulator: Emulator, allow_provider_hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name exists only in the fake DNS: connecting by name would fail to resolve.
    port = emulator_host_port(emulator).rsplit(":", 1)[1]
    allow_provider_hosts(f"ollama.lan.test:{port}")
    monkeypatch.setattr(netguard, "system_resolver", resolving({"ollama.lan.test": ["127.0.0.1"]}))
    url = rename(base_url(emulator, kind), "ollama.lan.test")
    provider = make_provider(ProviderConfig(kind, "sk-test-key-1234", base_url=url))
    try:
        events = await collect(provider, request(kind))
    finally:
        await provider.aclose()
    assert events
    assert emulator.requests[-1].headers.get("Host", emulator.requests[-1].headers.get("host")) == (
        f"ollama.lan.test:{port}"
    )


class _Redirector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        targets = {"/same": "/landed", "/other": f"http://localhost:{port}/landed"}
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"landed"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def redirector() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_redirects_stay_on_the_base_urls_host(redirector: int, allow_provider_hosts) -> None:
    # Both names are allowed local hosts: the refusal is about changing hosts, not addresses.
    allow_provider_hosts(f"127.0.0.1:{redirector}", f"localhost:{redirector}")
    async with sdk_http_client(5, provider="openai") as client:
        same = await client.get(f"http://127.0.0.1:{redirector}/same")
        assert (same.status_code, same.text) == (200, "landed")
        with pytest.raises(
            ProviderAddressError, match=r"Refused a redirect from 127.0.0.1 to another host \(localhost\)"
        ):
            await client.get(f"http://127.0.0.1:{redirector}/other")


async def test_proxy_settings_from_the_environment_are_ignored(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect by name, after the check: the vetted address is used instead
    # (through this dead proxy the request would fail to connect).
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with sdk_http_client(5) as client:
        await client.post(f"{emulator.openai_base_url}/embeddings", json={"model": "m", "input": ["x"]})
    assert [r.path for r in emulator.requests] == ["/v1/embeddings"]
