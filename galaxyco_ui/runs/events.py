"""Live run events: one ordered, resumable stream per run (and one per workspace).

Watchers read from a cursor, so a reload or reconnect resumes exactly where it left off.

    EventBus.publish(stream, type, data) -> event id
    EventBus.read(stream, after=cursor, wait=seconds) -> events after the cursor
    EventBus.end(stream)  -> the stream is complete (kept a while for late readers)
    EventBus.last_id(stream) -> the newest event id, to follow only what comes next

Two implementations behind one interface: ``MemoryEventBus`` (embedded mode, one
process) and ``RedisEventBus`` (Redis Streams: any backend process can serve any watcher).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from galaxyco_ui.infra.redis import get_async_redis

STREAM_MAXLEN = 20_000  # executors batch text deltas (~20 events/s), so this is minutes of output
ENDED_STREAM_TTL_SECONDS = 24 * 3600


def run_stream(run_id: str) -> str:
    return f"run:{run_id}:events"


def workspace_stream(workspace_id: str) -> str:
    """Run status changes of one workspace (the Runs screen's live monitor)."""
    return f"ws:{workspace_id}:runs"


@dataclass(frozen=True, slots=True)
class RunEvent:
    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class EventBus(Protocol):
    async def publish(self, stream: str, type: str, data: dict[str, Any]) -> str: ...

    async def read(self, stream: str, *, after: str | None, wait: float = 0.0) -> list[RunEvent]: ...

    async def end(self, stream: str) -> None: ...

    async def last_id(self, stream: str) -> str | None: ...


class MemoryEventBus:
    """In-process streams for the embedded mode. Ids are "1", "2", … per stream."""

    def __init__(self, maxlen: int = STREAM_MAXLEN) -> None:
        self._maxlen = maxlen
        self._streams: dict[str, deque[RunEvent]] = {}
        self._counters: dict[str, int] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    async def publish(self, stream: str, type: str, data: dict[str, Any]) -> str:
        seq = self._counters.get(stream, 0) + 1
        self._counters[stream] = seq
        event = RunEvent(id=str(seq), type=type, data=data)
        self._streams.setdefault(stream, deque(maxlen=self._maxlen)).append(event)
        for waiter in self._waiters.pop(stream, set()):
            if not waiter.done():
                waiter.set_result(None)
        return event.id

    async def read(self, stream: str, *, after: str | None, wait: float = 0.0) -> list[RunEvent]:
        events = self._after(stream, after)
        if events or wait <= 0:
            return events
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(stream, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, wait)
        except TimeoutError:
            return []
        finally:
            self._waiters.get(stream, set()).discard(waiter)
        return self._after(stream, after)

    def _after(self, stream: str, after: str | None) -> list[RunEvent]:
        last = int(after) if after else 0
        buffered = self._streams.get(stream)
        if not buffered or int(buffered[-1].id) <= last:
            return []
        return [e for e in buffered if int(e.id) > last]

    async def end(self, stream: str) -> None:
        return None  # kept in memory (bounded per stream) for late readers

    async def last_id(self, stream: str) -> str | None:
        buffered = self._streams.get(stream)
        return buffered[-1].id if buffered else None


class RedisEventBus:
    """Redis Streams: XADD with approximate trimming, XREAD BLOCK from a cursor."""

    def __init__(self, maxlen: int = STREAM_MAXLEN) -> None:
        self._maxlen = maxlen

    async def publish(self, stream: str, type: str, data: dict[str, Any]) -> str:
        client = _redis()
        event_id = await client.xadd(
            stream, {"type": type, "data": json.dumps(data)}, maxlen=self._maxlen, approximate=True
        )
        return str(event_id)

    async def read(self, stream: str, *, after: str | None, wait: float = 0.0) -> list[RunEvent]:
        client = _redis()
        block = int(wait * 1000) if wait > 0 else None
        reply = await client.xread({stream: after or "0-0"}, count=1000, block=block)
        events: list[RunEvent] = []
        for _name, entries in reply or []:
            for event_id, fields in entries:
                events.append(
                    RunEvent(id=str(event_id), type=fields["type"], data=json.loads(fields["data"]))
                )
        return events

    async def end(self, stream: str) -> None:
        await _redis().expire(stream, ENDED_STREAM_TTL_SECONDS)

    async def last_id(self, stream: str) -> str | None:
        newest = await _redis().xrevrange(stream, count=1)
        return str(newest[0][0]) if newest else None


def _redis():  # type: ignore[no-untyped-def]
    client = get_async_redis()
    if client is None:
        raise RuntimeError("RedisEventBus needs REDIS_URL")
    return client


_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    """The process-wide bus: Redis Streams when REDIS_URL is set, in-process otherwise."""
    global _bus
    if _bus is None:
        from galaxyco_ui.config import get_settings

        _bus = RedisEventBus() if get_settings().redis_url else MemoryEventBus()
    return _bus


def reset_event_bus() -> None:
    global _bus
    _bus = None
