from __future__ import annotations

import pytest
import redis

from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.redis import close_async_redis, get_async_redis, get_redis, reset_redis, ws_key

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


needs_redis = pytest.mark.skipif(not _redis_reachable(), reason="no Redis server at 127.0.0.1:6379")


@pytest.fixture
def redis_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    reset_settings()
    reset_redis()


def test_ws_key_prefixes_the_workspace() -> None:
    assert ws_key(42) == "ws:42"
    assert ws_key("abc", "rate", "login", 7) == "ws:abc:rate:login:7"


def test_ws_key_refuses_an_empty_workspace() -> None:
    with pytest.raises(ValueError):
        ws_key("")
    with pytest.raises(ValueError):
        ws_key(None)


async def test_clients_are_none_without_redis_url() -> None:
    assert get_redis() is None
    assert get_async_redis() is None


@needs_redis
def test_sync_client_is_cached_and_decodes(redis_configured: None) -> None:
    client = get_redis()
    assert client is not None
    assert get_redis() is client
    key = ws_key("test-infra", "sync")
    client.set(key, "value", ex=10)
    try:
        assert client.get(key) == "value"
    finally:
        client.delete(key)


@needs_redis
async def test_async_client_is_cached_per_loop_and_decodes(redis_configured: None) -> None:
    client = get_async_redis()
    assert client is not None
    assert get_async_redis() is client
    key = ws_key("test-infra", "async")
    try:
        await client.set(key, "value", ex=10)
        assert await client.get(key) == "value"
        await client.delete(key)
    finally:
        await close_async_redis()
    assert get_async_redis() is not client
    await close_async_redis()
