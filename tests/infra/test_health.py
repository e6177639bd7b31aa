from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from galaxyco_ui.api.health import routes
from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.db import make_engine
from galaxyco_ui.infra.redis import reset_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
def client(swap_engine, tmp_path) -> Iterator[TestClient]:
    swap_engine(make_engine(f"sqlite:///{tmp_path / 'health.db'}"))
    with TestClient(Starlette(routes=routes)) as test_client:
        yield test_client


def test_healthy_on_a_working_sqlite_database(client: TestClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert "error" not in body["checks"]["database"]
    assert body["checks"]["redis"] == {"configured": False}
    assert response.headers["Cache-Control"] == "no-store"


def test_degraded_when_the_database_is_unreachable(client: TestClient, swap_engine) -> None:
    swap_engine(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))

    response = client.get("/api/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    database = body["checks"]["database"]
    assert database["ok"] is False
    assert database["error"] == "OperationalError"
    assert "127.0.0.1" not in response.text


def test_only_get_is_allowed(client: TestClient) -> None:
    assert client.post("/api/health").status_code == 405


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis server at 127.0.0.1:6379")
def test_redis_is_checked_when_configured(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    reset_settings()
    reset_redis()

    response = client.get("/api/health")

    assert response.status_code == 200
    redis_check = response.json()["checks"]["redis"]
    assert redis_check["configured"] is True
    assert redis_check["ok"] is True
    assert redis_check["latency_ms"] >= 0


def test_degraded_when_configured_redis_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    reset_redis()

    response = client.get("/api/health")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"
