"""Redis clients for the scale-out mode: ``None`` when ``REDIS_URL`` is empty.

Callers pick their implementation from the return value: a client means the Redis
column of the design (shared state, queues, streams, limits), ``None`` means the
embedded, in-process one. Every key a tenant-owned feature writes goes through
``ws_key`` so it is prefixed ``ws:{workspace_id}:``.

The sync client is cached per process (redis-py's pool is fork-aware). An asyncio
client is bound to the event loop it first connects on, so ``get_async_redis``
caches one per running loop.
"""

from __future__ import annotations

import asyncio
import weakref

import redis
import redis.asyncio as aioredis

from galaxyco_ui.config import get_settings

CONNECT_TIMEOUT_SECONDS = 5.0

_sync_client: redis.Redis | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def get_redis() -> redis.Redis | None:
    """The process-wide synchronous Redis client.

    Returns:
        A client for ``settings.redis_url`` decoding responses to ``str``, or ``None``
        when Redis is not configured. The client connects lazily, so this never
        raises because the server is down.
    """
    global _sync_client
    url = get_settings().redis_url
    if not url:
        return None
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    return _sync_client


def get_async_redis() -> aioredis.Redis | None:
    """The asyncio Redis client for the running event loop.

    Returns:
        A client for ``settings.redis_url`` decoding responses to ``str`` (one per
        event loop, reused across calls on that loop), or ``None`` when Redis is not
        configured.

    Raises:
        RuntimeError: when called outside a running event loop.
    """
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        _async_clients[loop] = client
    return client


async def close_async_redis() -> None:
    """Close and forget the running loop's asyncio client, if any (shutdown, tests)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def reset_redis() -> None:
    """Close the sync client and forget every cached client (tests change ``REDIS_URL``).

    Asyncio clients cannot be closed from sync code: await ``close_async_redis()`` on
    their loop first if they were used.
    """
    global _sync_client
    if _sync_client is not None:
        _sync_client.close()
    _sync_client = None
    _async_clients.clear()


def ws_key(workspace_id: object, *parts: object) -> str:
    """A Redis key scoped to one workspace.

    Args:
        workspace_id: the tenant the key belongs to.
        *parts: further key segments, joined with ``:``.

    Returns:
        ``"ws:{workspace_id}:part1:part2..."`` (just ``"ws:{workspace_id}"`` with no parts).

    Raises:
        ValueError: when ``workspace_id`` is empty, so no key escapes tenant scoping.
    """
    if workspace_id is None or str(workspace_id) == "":
        raise ValueError("ws_key needs a workspace id.")
    return ":".join(["ws", str(workspace_id), *(str(part) for part in parts)])
