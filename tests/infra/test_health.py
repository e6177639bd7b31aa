"""Health endpoints: ``/api/health/live`` does no I/O; ``/api/health/ready`` (and its older
name ``/api/health``) checks the database, Redis when configured and the job queue's lag,
and names what failed; no health call reaches a model provider."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from galaxyco_ui.api.health import routes
from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.db import make_engine
from galaxyco_ui.infra.redis import reset_redis
from galaxyco_ui.jobs import BACKGROUND_POOL, close_job_queue, get_job_queue, job, reset_job_queue
from galaxyco_ui.services import provider_keys

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")

WAITING_JOB = "test_health_waiting_job"
_gate: dict[str, asyncio.Event] = {}


@job(WAITING_JOB, pool=BACKGROUND_POOL)
async def _waiting_job(**_: object) -> None:
    await _gate["release"].wait()


@pytest.fixture
def client(swap_engine, tmp_path) -> Iterator[TestClient]:
    swap_engine(make_engine(f"sqlite:///{tmp_path / 'health.db'}"))
    with TestClient(Starlette(routes=routes)) as test_client:
        yield test_client


@pytest.fixture
async def async_client(swap_engine, tmp_path) -> AsyncIterator[httpx2.AsyncClient]:
    """A client on the test's own event loop, so the app sees the jobs the test enqueues
    (and the queue's Redis connection is closed on the loop that opened it)."""
    swap_engine(make_engine(f"sqlite:///{tmp_path / 'health.db'}"))
    transport = httpx2.ASGITransport(app=Starlette(routes=routes))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client
    with contextlib.suppress(redis.RedisError):  # closing a queue whose Redis is down reconnects
        await close_job_queue()


def configure_redis(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    reset_settings()
    reset_redis()
    reset_job_queue()


# ------------------------------------------------------------------------------ live


def test_live_answers_without_touching_the_database_redis_or_the_network(
    client: TestClient, swap_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_engine(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    configure_redis(monkeypatch, "redis://127.0.0.1:1/0")
    connects: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        connects.append(address)
        raise OSError("no network in a liveness check")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    response = client.get("/api/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert connects == []
    assert client.get("/api/health/ready").status_code == 503  # the same setup is not ready


def test_health_endpoints_allow_only_get_and_head(client: TestClient) -> None:
    for path in ("/api/health", "/api/health/live", "/api/health/ready"):
        assert client.post(path).status_code == 405
        assert client.head(path).status_code == 200


# ----------------------------------------------------------------------------- ready


@pytest.mark.parametrize("path", ["/api/health/ready", "/api/health"])
def test_ready_on_a_working_sqlite_database_with_an_idle_queue(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert body["version"] == "0.1.0"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert "error" not in body["checks"]["database"]
    assert body["checks"]["redis"] == {"configured": False}
    queue = body["checks"]["queue"]
    assert queue["ok"] is True
    assert queue["depth"] == 0 and queue["lag_seconds"] == 0
    assert queue["max_lag_seconds"] == 60
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/api/health/ready", "/api/health"])
def test_not_ready_when_the_database_is_unreachable_naming_it(
    client: TestClient, swap_engine, path: str
) -> None:
    swap_engine(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))

    response = client.get(path)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["database"]
    database = body["checks"]["database"]
    assert database["ok"] is False
    assert database["error"] == "OperationalError"
    assert "127.0.0.1" not in response.text


@needs_redis
async def test_redis_and_the_saq_queue_are_checked_when_redis_is_configured(
    async_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_redis(monkeypatch, TEST_REDIS_URL)

    response = await async_client.get("/api/health/ready")

    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["redis"]["configured"] is True
    assert checks["redis"]["ok"] is True
    assert checks["redis"]["latency_ms"] >= 0
    assert checks["queue"]["ok"] is True and checks["queue"]["depth"] == 0


async def test_not_ready_when_configured_redis_is_unreachable_naming_it(
    async_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_redis(monkeypatch, "redis://127.0.0.1:1/0")

    response = await async_client.get("/api/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    # The SAQ queue lives on that Redis too, so its lag cannot be read either.
    assert body["failed"] == ["redis", "queue"]
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("mode", ["embedded", pytest.param("saq", marks=needs_redis)])
async def test_not_ready_when_the_oldest_waiting_job_waited_longer_than_the_threshold(
    async_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "saq":
        configure_redis(monkeypatch, TEST_REDIS_URL)  # no worker runs: every job waits
    monkeypatch.setenv("KNOWLEDGE_INGEST_CONCURRENCY", "1")  # the embedded pool's one slot
    monkeypatch.setenv("READY_MAX_QUEUE_LAG_SECONDS", "3600")
    reset_settings()
    release = _gate["release"] = asyncio.Event()
    queue = get_job_queue()
    try:
        await queue.enqueue(WAITING_JOB, key="holds-the-slot")
        await queue.enqueue(WAITING_JOB, key="waits")
        await asyncio.sleep(0.3)

        under = await async_client.get("/api/health/ready")
        assert under.status_code == 200, under.text
        assert under.json()["checks"]["queue"]["depth"] >= 1

        monkeypatch.setenv("READY_MAX_QUEUE_LAG_SECONDS", "0.2")
        reset_settings()
        over = await async_client.get("/api/health/ready")

        assert over.status_code == 503
        body = over.json()
        assert body["failed"] == ["queue"]
        queue_check = body["checks"]["queue"]
        assert queue_check["ok"] is False
        assert queue_check["lag_seconds"] >= 0.3
        assert queue_check["max_lag_seconds"] == 0.2
        assert queue_check["error"] == "the oldest waiting job has waited over 0.2 s"

        monkeypatch.setenv("READY_MAX_QUEUE_LAG_SECONDS", "0")  # the operator turns the check off
        reset_settings()
        off = await async_client.get("/api/health/ready")
        assert off.status_code == 200
        assert off.json()["checks"]["queue"] == {"configured": False}
    finally:
        release.set()
        await close_job_queue()


# ------------------------------------------------------------ no provider calls


class _CountingHandler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST = do_HEAD  # noqa: N815

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def provider_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    _CountingHandler.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_no_health_call_reaches_a_provider(
    provider_server: ThreadingHTTPServer, team, allow_provider_hosts
) -> None:
    """A workspace's provider base URL is a local server that counts requests: health
    calls never touch it (its reachability is a timed check, read from a cache)."""
    port = provider_server.server_address[1]
    allow_provider_hosts(f"127.0.0.1:{port}")
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai_compatible", api_key="", base_url=f"http://127.0.0.1:{port}/v1"
    )

    with TestClient(Starlette(routes=routes)) as test_client:
        for path in ("/api/health/live", "/api/health/ready", "/api/health"):
            assert test_client.get(path).status_code == 200

    assert _CountingHandler.hits == []
