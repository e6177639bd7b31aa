"""A local HTTP server that speaks the OpenAI, Anthropic and Gemini wire protocols.

Tests point the real vendor SDKs at it (``base_url``) and script the answers::

    with Emulator() as emu:
        emu.enqueue(Script([text("Hello"), usage(3, 1)]), model="gpt-4.1-mini")
        provider = make_provider(ProviderConfig("openai", "k", base_url=emu.openai_base_url))
        ...
        assert emu.requests[-1].body["model"] == "gpt-4.1-mini"

Routes: ``POST /v1/chat/completions`` (OpenAI, stream or not), ``POST /v1/messages``
(Anthropic, stream or not), ``POST /{v1,v1beta}/models/{model}:streamGenerateContent``
and ``:generateContent`` (Gemini). Any API key is accepted except ``bad-key`` (401 in the
vendor's format). Which script answers: the model's queue, then the default queue, then a
``{"emulator": ...}`` JSON user message (see ``script.py``), then an echo of the user's
last message.

Gemini 3 thought signatures: for ``gemini-3*`` models the first function call of each
answer carries a ``thoughtSignature``, and a request whose current turn sends a function
call back without it, or any signature the emulator did not issue for that function, gets
Gemini's 400 (``wire.GoogleWire.signature_error``). Signatures do not depend on the
emulator instance, so a run resumed after a restart can send them back.

Embeddings: ``POST /v1/embeddings`` (OpenAI: ``dimensions``, ``encoding_format`` float or
base64) and ``POST /{v1,v1beta}/models/{model}:batchEmbedContents`` / ``:embedContent``
(Gemini). Vectors are ``wire.hashed_embedding``: deterministic, and texts sharing words
are close. ``bad-key`` gets the 401; to inject another error, queue ``Script.error(...)``
under the embedding model's name (only that model's queue is read, so chat scripts in the
default queue are left alone).

It is a threaded ``http.server`` speaking HTTP/1.1 with chunked streaming: uvicorn is not
installed, and granian cannot be embedded on an ephemeral port nor cut a stream abruptly,
which the disconnect tests need (an unterminated chunked body is what a dropped
connection looks like to a client). One thread per connection handles the 50+
concurrent streams the benchmarks open.

Run standalone: ``python -m galaxyco_ui.devtools.emulator --port 8765``, and start the app
with ``ALLOWED_PRIVATE_PROVIDER_HOSTS=127.0.0.1:8765`` (provider base URLs may not reach
loopback addresses otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from galaxyco_ui.devtools.script import ErrorSpec, Script, plan, scripts_from_message
from galaxyco_ui.devtools.wire import WIRES, GoogleWire, OpenAIWire, Turn, Vendor

_GEMINI_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):(streamGenerateContent|generateContent)$")
_GEMINI_EMBED_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):(batchEmbedContents|embedContent)$")
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
BAD_KEY = "bad-key"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the emulator received (auth headers removed)."""

    vendor: Vendor
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    model: str
    stream: bool
    query: dict[str, list[str]] = field(default_factory=dict)


def default_answer(turns: list[Turn]) -> str:
    """The deterministic echo used when no script applies."""
    if turns and turns[-1].role == "tool":
        return f"The tool returned: {turns[-1].text[:200]}"
    last = next((t.text for t in reversed(turns) if t.role == "user"), "")
    return f'You said: "{last[:200]}". This is a scripted reply from the GalaxyCo provider emulator.'


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # idle keep-alive connections are dropped after a minute

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    # ------------------------------------------------------------ routing

    def do_GET(self) -> None:
        """``GET /health`` for readiness checks."""
        if urlsplit(self.path).path == "/health":
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        """Dispatch a vendor request."""
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON"}})
            return
        query = parse_qs(url.query)
        if url.path == "/v1/embeddings" or _GEMINI_EMBED_PATH.match(url.path):
            self._embeddings(url.path, body, query)
            return
        if url.path == "/v1/chat/completions":
            vendor: Vendor = "openai"
            model, stream = str(body.get("model", "")), bool(body.get("stream"))
        elif url.path == "/v1/messages":
            vendor, model, stream = "anthropic", str(body.get("model", "")), bool(body.get("stream"))
        elif match := _GEMINI_PATH.match(url.path):
            vendor, model, stream = "google", match.group(2), match.group(3) == "streamGenerateContent"
        else:
            self._send_json(404, {"error": {"message": f"no route for {url.path}"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS}
        emulator = self.server.emulator
        emulator._record(RecordedRequest(vendor, "POST", url.path, headers, body, model, stream, query))
        wire = WIRES[vendor]
        if self._api_key(vendor, query) == BAD_KEY:
            self._send_error(wire, ErrorSpec(401))
            return
        if vendor == "google" and (refusal := GoogleWire.signature_error(body, model)) is not None:
            self._send_error(wire, refusal)  # checked before any script is used, like the API
            return
        turns = wire.conversation(body)
        script = emulator._next_script(model, turns)
        estimate = max(1, len(json.dumps(body.get("messages") or body.get("contents") or [])) // 4)
        resolved = plan(script, input_estimate=estimate, id_prefix=wire.id_prefix)
        if resolved.error is not None:
            self._send_error(wire, resolved.error)
        elif stream:
            self._stream(wire, resolved, model, body)
        else:
            self._complete(wire, resolved, model)

    def _embeddings(self, path: str, body: dict[str, Any], query: dict[str, list[str]]) -> None:
        """Answer an OpenAI or Gemini embedding request (see the module docstring)."""
        match = _GEMINI_EMBED_PATH.match(path)
        vendor: Vendor = "google" if match else "openai"
        model = match.group(2) if match else str(body.get("model", ""))
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS}
        emulator = self.server.emulator
        emulator._record(RecordedRequest(vendor, "POST", path, headers, body, model, False, query))
        wire = WIRES[vendor]
        if self._api_key(vendor, query) == BAD_KEY:
            self._send_error(wire, ErrorSpec(401))
            return
        script = emulator._next_embedding_script(model)
        if script is not None and script.error_spec is not None:
            self._send_error(wire, script.error_spec)
            return
        if match:
            answer = GoogleWire.embeddings(body, batch=match.group(3) == "batchEmbedContents")
        else:
            answer = OpenAIWire.embeddings(body, model)
        if answer is None:
            self._send_error(wire, ErrorSpec(400, message="The input is empty."))
        else:
            self._send_json(200, answer)

    def _api_key(self, vendor: Vendor, query: dict[str, list[str]]) -> str:
        auth = self.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        if vendor == "anthropic":
            return self.headers.get("x-api-key") or bearer
        if vendor == "google":
            return self.headers.get("x-goog-api-key") or (query.get("key") or [""])[0] or bearer
        return bearer

    # ------------------------------------------------------------ responses

    def _send_json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_error(self, wire: Any, spec: ErrorSpec) -> None:
        status, data, headers = wire.error(spec)
        self._send_json(status, data, headers)

    def _complete(self, wire: Any, resolved: Any, model: str) -> None:
        delay = sum(getattr(i, "delay", 0.0) for i in resolved.items)
        if delay and self.server.emulator._stopping.wait(delay):
            return
        if resolved.disconnect_after is not None:
            self._abort()
            return
        self._send_json(200, wire.complete(resolved, model))

    def _stream(self, wire: Any, resolved: Any, model: str, body: dict[str, Any]) -> None:
        stopping = self.server.emulator._stopping
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for frame in wire.stream(resolved, model, body):
                if resolved.disconnect_after is not None and sent >= resolved.disconnect_after:
                    self._abort()
                    return
                if frame.delay and stopping.wait(frame.delay):
                    self._abort()
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame.data), frame.data))
                self.wfile.flush()
                sent += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away (e.g. a cancelled run)
            self.close_connection = True

    def _abort(self) -> None:
        """Drop the connection without finishing the response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Emulator:
    """The provider emulator: a real HTTP server on a background thread.

    Args:
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one (read it back from ``url``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[Script]] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        """Bind and serve on a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="provider-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; streams in progress end at their next chunk."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start()")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it; an IPv4 TCP server gives a str
            host = host.decode()
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for the OpenAI SDK (and OpenAI-compatible clients)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the Anthropic SDK (it appends ``/v1/messages``)."""
        return self.url

    @property
    def google_base_url(self) -> str:
        """Base URL for google-genai (it appends ``/{version}/models/...``)."""
        return self.url

    # ------------------------------------------------------------ scripting

    def enqueue(self, script: Script, model: str | None = None) -> None:
        """Queue ``script`` to answer the next request for ``model`` (any model if ``None``)."""
        with self._lock:
            self._queues.setdefault(model, deque()).append(script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget queued scripts and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_embedding_script(self, model: str) -> Script | None:
        """A script queued for exactly this embedding model, if any (for error injection)."""
        with self._lock:
            queue = self._queues.get(model)
            return queue.popleft() if queue else None

    def _next_script(self, model: str, turns: list[Turn]) -> Script:
        with self._lock:
            for key in (model, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        last_user = max((i for i, t in enumerate(turns) if t.role == "user"), default=-1)
        if last_user >= 0 and (steered := scripts_from_message(turns[last_user].text)):
            answered = sum(1 for t in turns[last_user + 1 :] if t.role == "assistant")
            if answered < len(steered):
                return steered[answered]
        return Script.from_json({"steps": [{"text": default_answer(turns)}]})


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        description="GalaxyCo provider emulator (OpenAI, Anthropic, Gemini wire formats)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    emulator = Emulator(args.host, args.port).start()
    print(f"Provider emulator on {emulator.url}", flush=True)
    print(f"  OpenAI / compatible base URL: {emulator.openai_base_url}", flush=True)
    print(f"  Anthropic base URL:           {emulator.anthropic_base_url}", flush=True)
    print(f"  Google base URL:              {emulator.google_base_url}", flush=True)
    allow = emulator.url.removeprefix("http://")
    print(f"Start GalaxyCo with ALLOWED_PRIVATE_PROVIDER_HOSTS={allow} to let it connect here.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
