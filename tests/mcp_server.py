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
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer

from galaxyco_ui.config import reset_settings

SECURE_TOKEN = "s3cret-mcp-token"
FLOOD_CHARS = 200_000
ALLOW_VARIABLE = "ALLOWED_PRIVATE_PROVIDER_HOSTS"


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


class LocalMcpServer:
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
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The open endpoint."""
        return f"http://{self.host_port}/mcp"

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
    with LocalMcpServer() as server:
        previous = os.environ.get(ALLOW_VARIABLE)
        entries = [e for e in (previous or "").split(",") if e.strip()]
        os.environ[ALLOW_VARIABLE] = ",".join([*entries, server.host_port])
        reset_settings()
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop(ALLOW_VARIABLE, None)
            else:
                os.environ[ALLOW_VARIABLE] = previous
            reset_settings()


@pytest.fixture
def mcp_server(_mcp_server_session: LocalMcpServer) -> LocalMcpServer:
    """The session's local MCP server, allowed through ``ALLOWED_PRIVATE_PROVIDER_HOSTS``."""
    return _mcp_server_session


class SilentServer:
    """A TCP port that accepts connections and never answers: an MCP server that hangs."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)  # the kernel completes handshakes; nobody reads
        self.port = self._socket.getsockname()[1]

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}/mcp"

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


if __name__ == "__main__":  # the same tools over stdio: ``python -m tests.mcp_server``
    build_server(threading.Event()).run()
