"""Cancel signals: set by whoever cancels a run, polled by the executor running it.

In-process (a set) in the embedded mode; a Redis key per run when REDIS_URL is set, so
a cancel clicked on any backend reaches the worker executing the run.
"""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.redis import get_async_redis

SIGNAL_TTL_SECONDS = 24 * 3600


class CancelSignals(Protocol):
    async def request(self, run_id: str) -> None: ...

    async def is_requested(self, run_id: str) -> bool: ...

    async def clear(self, run_id: str) -> None: ...


class MemoryCancelSignals:
    def __init__(self) -> None:
        self._requested: set[str] = set()

    async def request(self, run_id: str) -> None:
        self._requested.add(run_id)

    async def is_requested(self, run_id: str) -> bool:
        return run_id in self._requested

    async def clear(self, run_id: str) -> None:
        self._requested.discard(run_id)


class RedisCancelSignals:
    @staticmethod
    def _key(run_id: str) -> str:
        return f"run:{run_id}:cancel"

    async def request(self, run_id: str) -> None:
        await _client().set(self._key(run_id), "1", ex=SIGNAL_TTL_SECONDS)

    async def is_requested(self, run_id: str) -> bool:
        return bool(await _client().exists(self._key(run_id)))

    async def clear(self, run_id: str) -> None:
        await _client().delete(self._key(run_id))


def _client() -> aioredis.Redis:
    client = get_async_redis()
    if client is None:
        raise RuntimeError("RedisCancelSignals needs REDIS_URL")
    return client


_signals: CancelSignals | None = None


def get_cancel_signals() -> CancelSignals:
    global _signals
    if _signals is None:
        _signals = RedisCancelSignals() if get_settings().redis_url else MemoryCancelSignals()
    return _signals


def reset_cancel_signals() -> None:
    global _signals
    _signals = None
