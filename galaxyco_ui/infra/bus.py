"""Event streams: ordered, resumable, readable from a cursor (the live pages' transport).

Watchers read from a cursor, so a reload or reconnect resumes exactly where it left off.

    EventBus.publish(stream, type, data) -> event id
    EventBus.read(stream, after=cursor, wait=seconds) -> events after the cursor
    EventBus.end(stream)  -> the stream is complete (kept a while for late readers, then freed)
    EventBus.last_id(stream) -> the newest event id, to follow only what comes next

Two implementations behind one interface: ``MemoryEventBus`` (embedded mode, one
process) and ``RedisEventBus`` (Redis Streams: any backend process can serve any watcher).
The streams' names belong to their features (``runs.events``: runs and workspaces;
``notifications.live``: the bell); this module depends on configuration and Redis only,
so every layer above ``infra`` may publish.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.redis import get_async_redis

STREAM_MAXLEN = 20_000  # executors batch text deltas (~20 events/s), so this is minutes of output
ENDED_STREAM_TTL_SECONDS = 24 * 3600


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


@dataclass(slots=True)
class _Stream:
    events: deque[RunEvent]
    last_used: float  # last publish or read: a stream someone reads is being watched
    ended_at: float | None = None


class MemoryEventBus:
    """In-process streams for the embedded mode. Ids are increasing integers ("1", "2", …).

    Memory is bounded two ways, as Redis bounds it with ``EXPIRE``: an ended stream is
    dropped ``ttl_seconds`` after it ended or was last read, whichever is later (a page
    still replaying or following it keeps it), and at most ``max_streams`` streams are
    kept. Past that, streams are evicted least recently used first, but ended ones before
    live ones, and streams a reader is waiting on last of all. A dropped stream reads as
    empty; the run's steps and outcome stay in the database.

    Ids come from one counter for the whole bus, so a stream dropped and published to
    again never reuses an id that a reader may hold as its cursor.
    """

    def __init__(
        self,
        maxlen: int = STREAM_MAXLEN,
        *,
        max_streams: int = 5000,
        ttl_seconds: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._maxlen = maxlen
        self._max_streams = max(1, max_streams)
        self._ttl = ttl_seconds
        self._clock = clock
        self._streams: OrderedDict[str, _Stream] = OrderedDict()  # least recently used first
        self._seq = 0
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._next_sweep = 0.0

    async def publish(self, stream: str, type: str, data: dict[str, Any]) -> str:
        now = self._clock()
        self._seq += 1
        event = RunEvent(id=str(self._seq), type=type, data=data)
        entry = self._streams.get(stream)
        if entry is None:
            entry = self._streams[stream] = _Stream(deque(maxlen=self._maxlen), now)
            self._make_room(now, keep=stream)
        entry.events.append(event)
        self._touch(stream, entry, now)
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
            waiting = self._waiters.get(stream)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[stream]
        return self._after(stream, after)

    def _after(self, stream: str, after: str | None) -> list[RunEvent]:
        entry = self._streams.get(stream)
        if entry is None:
            return []
        self._touch(stream, entry, self._clock())
        last = int(after) if after else 0
        buffered = entry.events
        if not buffered or int(buffered[-1].id) <= last:
            return []
        return [e for e in buffered if int(e.id) > last]

    async def end(self, stream: str) -> None:
        """Mark the stream complete: it is dropped once nobody has read it for the TTL."""
        entry = self._streams.get(stream)
        if entry is not None:
            entry.ended_at = self._clock()
        self._sweep(self._clock())

    async def last_id(self, stream: str) -> str | None:
        entry = self._streams.get(stream)
        return entry.events[-1].id if entry is not None and entry.events else None

    def __len__(self) -> int:
        """How many streams are held."""
        return len(self._streams)

    def _touch(self, stream: str, entry: _Stream, now: float) -> None:
        entry.last_used = now
        self._streams.move_to_end(stream)
        self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop ended streams unread for the TTL (at most once a second: it walks them all)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        expired = [
            name
            for name, entry in self._streams.items()
            if entry.ended_at is not None
            and now - max(entry.ended_at, entry.last_used) >= self._ttl
            and name not in self._waiters
        ]
        for name in expired:
            del self._streams[name]

    def _make_room(self, now: float, *, keep: str) -> None:
        """Evict least recently used streams (ended ones first) down to ``max_streams``."""
        self._next_sweep = 0.0
        self._sweep(now)
        excess = len(self._streams) - self._max_streams
        if excess <= 0:
            return
        # Stable sort: ended before live, unwatched before awaited, oldest use first.
        victims = sorted(
            (name for name in self._streams if name != keep),
            key=lambda name: (name in self._waiters, self._streams[name].ended_at is None),
        )
        for name in victims[:excess]:
            del self._streams[name]


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


def _redis() -> aioredis.Redis:
    client = get_async_redis()
    if client is None:
        raise RuntimeError("RedisEventBus needs REDIS_URL")
    return client


_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    """The process-wide bus: Redis Streams when REDIS_URL is set, in-process otherwise."""
    global _bus
    if _bus is None:
        settings = get_settings()
        _bus = (
            RedisEventBus()
            if settings.redis_url
            else MemoryEventBus(
                max_streams=settings.run_event_max_streams,
                ttl_seconds=settings.run_event_stream_ttl_seconds,
            )
        )
    return _bus


def reset_event_bus() -> None:
    global _bus
    _bus = None
