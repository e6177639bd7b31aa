"""A real local HTTP server for the http_request tests, and a tool allowed to reach it.

Production refuses 127.0.0.1; these fixtures open the door only through the tool's test
seams (``allow``, ``ports``, ``resolver``), never by changing the defaults.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from galaxyco_ui.tools.base import ToolContext


@pytest.fixture
def ctx() -> ToolContext:
    return ToolContext(workspace_id="ws1", run_id="run1", agent_id="agent1", user_id="user1")


ENDLESS_BYTES = 500 * 1024 * 1024  # more than any socket buffers can absorb


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/json":
            self._send(200, b'{"name":"Ada","tags":["a","b"],"n":1}', "application/json")
        elif url.path == "/echo":
            echo = {"method": self.command, "headers": dict(self.headers), "body": body.decode()}
            self._send(200, json.dumps(echo).encode(), "application/json")
        elif url.path == "/latin1":
            self._send(200, "café crème".encode("latin-1"), "text/plain; charset=iso-8859-1")
        elif url.path == "/binary":
            self._send(200, b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")
        elif url.path == "/missing":
            self._send(404, b"no such page", "text/plain")
        elif url.path == "/big":
            self._send_big(5 * 1024 * 1024, with_length=True)
        elif url.path == "/endless":
            self._send_big(ENDLESS_BYTES, with_length=False)
        elif url.path == "/sleep":
            self.server.release.wait(5)
            self._send(200, b"late", "text/plain")
        elif url.path == "/redirect":
            status = int(query.get("status", "302"))
            self._send(status, b"", "text/plain", {"Location": query["to"]})
        elif url.path == "/loop":
            self._send(302, b"", "text/plain", {"Location": "/loop"})
        else:
            self._send(200, b"hello", "text/plain; charset=utf-8")

    def _send_big(self, size: int, *, with_length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if with_length:
            self.send_header("Content-Length", str(size))
        else:  # a body that ends when the connection does
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
                self.server.big_bytes_sent += len(chunk)
        except OSError:
            pass  # the client stopped reading: what the size limit is for


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.big_bytes_sent = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-response is expected in these tests


@dataclass
class LocalServer:
    server: _Server
    port: int

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalServer(server=server, port=server.server_address[1])
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        time.sleep(0)  # let finished handler threads unwind
