"""A local MCP server for the tests, written with the ``mcp`` package, and its fixture.

``LocalMcpServer`` serves Streamable HTTP with uvicorn in a thread on a free port of
127.0.0.1 (its own event loop), at these paths:

- ``/mcp``: the tools ``lookup`` (answers), ``explode`` (fails: the result has
  ``isError``), ``hang`` (sleeps far longer than any test waits) and ``flood`` (returns
  ``FLOOD_CHARS`` characters);
- ``/secure/mcp``: the same server, refused with 401 unless the request carries
  ``Authorization: Bearer <SECURE_TOKEN>``;
- ``/plain``: an ordinary web page that is not an MCP endpoint.

``hang`` waits on an event ``close`` sets, so stopping the server never waits for it.
The fixture ``mcp_server`` lists the server's ``host:port`` in
``ALLOWED_PRIVATE_PROVIDER_HOSTS`` for the test (and for the e2e app server, through the
environment), the way an operator allows a local server: netguard is not loosened.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer

from tests.emulator import private_host_allowed

SECURE_TOKEN = "s3cret-mcp-token"
FLOOD_CHARS = 200_000


def build_server(hang_release: threading.Event) -> MCPServer:
    """The MCP server with the four test tools."""
    server = MCPServer("galaxyco-test-tools")

    @server.tool(description="Look up a word in the test dictionary and return its meaning.")
    def lookup(word: str) -> str:
        return f"The meaning of {word} is 42."

    @server.tool(description="Always fails.")
    def explode(reason: str = "boom") -> str:
        raise ValueError(f"exploded: {reason}")

    @server.tool(description="Never answers in time.")
    async def hang() -> str:
        # Polls a thread event (the server's loop is not the closer's): noqa for ASYNC110.
        while not hang_release.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return "released"

    @server.tool(description="Returns a very long text.")
    def flood() -> str:
        return "x" * FLOOD_CHARS

    return server


class _App:
    """Routes /secure/* through a bearer check and /plain to a web page; /mcp is open."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/plain":
                await _respond(send, 200, b"<html><body>not MCP</body></html>", b"text/html")
                return
            if path.startswith("/secure/"):
                headers = dict(scope["headers"])
                if headers.get(b"authorization") != f"Bearer {SECURE_TOKEN}".encode():
                    await _respond(send, 401, b'{"error":"unauthorized"}', b"application/json")
                    return
                scope = {**scope, "path": path.removeprefix("/secure"), "raw_path": path[7:].encode()}
        await self.inner(scope, receive, send)


async def _respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Local:
    """A server on ``port`` of 127.0.0.1 with its MCP endpoint at ``/mcp``."""

    port: int

    @property
    def host_port(self) -> str:
        """The entry ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` needs to reach it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The (open) MCP endpoint."""
        return f"http://{self.host_port}/mcp"


class LocalMcpServer(_Local):
    """The test MCP server on a free port of 127.0.0.1; a context manager."""

    def __init__(self) -> None:
        self.hang_release = threading.Event()
        mcp = build_server(self.hang_release)
        # The SDK's DNS-rebinding protection stays on: it accepts 127.0.0.1:* hosts.
        starlette = mcp.streamable_http_app(json_response=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            _App(starlette), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="mcp-test-server", daemon=True)

    @property
    def secure_url(self) -> str:
        """The endpoint that wants ``Authorization: Bearer SECURE_TOKEN``."""
        return f"http://{self.host_port}/secure/mcp"

    @property
    def plain_url(self) -> str:
        """A web page, not an MCP endpoint."""
        return f"http://{self.host_port}/plain"

    def __enter__(self) -> LocalMcpServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test MCP server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.hang_release.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def _mcp_server_session() -> Iterator[LocalMcpServer]:
    with LocalMcpServer() as server, private_host_allowed(server.host_port):
        yield server


@pytest.fixture
def mcp_server(_mcp_server_session: LocalMcpServer) -> LocalMcpServer:
    """The session's local MCP server, allowed through ``ALLOWED_PRIVATE_PROVIDER_HOSTS``."""
    return _mcp_server_session


class SilentServer(_Local):
    """A TCP port that accepts connections and never answers: an MCP server that hangs."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)  # the kernel completes handshakes; nobody reads
        self.port = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


if __name__ == "__main__":  # the same tools over stdio: ``python -m tests.mcp_server``
    build_server(threading.Event()).run()
