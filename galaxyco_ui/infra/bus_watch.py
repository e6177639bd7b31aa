"""One reader per stream in each process, fanned out to every local watcher of it.

A live page that only needs to know *that* a stream moved (the Runs screen reloads its
lists from the database when a run of the workspace changes) waits on a flag here
instead of reading the stream itself. However many browsers of a workspace are connected
to a process, the process runs one reader task for that workspace's stream (on Redis: one
blocking XREAD, so one pooled connection, instead of one per browser every turn), and an
idle browser costs a flag and the coroutine waiting on it.

    async with watch(stream) as changes:
        moved = await changes.wait(seconds)  # True: new events since the last wait

A watch exists (its reader has taken the stream's newest id) before ``watch`` yields,
so nothing published after that is missed. The reader ends on its own once its last
watcher has left, after the read it is in (at most ``READ_WAIT_SECONDS``); it is never
cancelled, since a cancelled blocking XREAD would leave its Redis connection behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator

from galaxyco_ui.infra.bus import get_event_bus

log = logging.getLogger("galaxyco.bus")

READ_WAIT_SECONDS = 1.0
RETRY_SECONDS = 1.0


class Wakeup:
    """A live loop's flag: ``notify()`` sets it, ``wait(seconds)`` takes it (also the bell's)."""

    def __init__(self) -> None:
        self._flag = asyncio.Event()

    def notify(self) -> None:
        self._flag.set()

    async def wait(self, seconds: float) -> bool:
        """Wait until notified (True) or ``seconds`` pass (False); a notification is taken once."""
        if not self._flag.is_set():
            try:
                async with asyncio.timeout(seconds):  # no task per wait, unlike wait_for on 3.11
                    await self._flag.wait()
            except TimeoutError:
                return False
        self._flag.clear()
        return True


class StreamWatch(Wakeup):
    """One watcher of a stream: notified when the stream gets new events."""

    def __init__(self, stream: str) -> None:
        super().__init__()
        self.stream = stream


class _Reader:
    """The watchers of one stream in one event loop, and the task that reads it for them."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.watches: set[StreamWatch] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._follow(), name=f"bus-watch {stream}")

    async def _follow(self) -> None:
        bus = get_event_bus()
        cursor = "0"
        while self.watches or not self.ready.done():
            try:
                if not self.ready.done():
                    cursor = await bus.last_id(self.stream) or "0"
                    self.ready.set_result(None)
                    continue
                events = await bus.read(self.stream, after=cursor, wait=READ_WAIT_SECONDS)
            except Exception:
                log.exception("reading a watched stream failed; retrying", extra={"stream": self.stream})
                if not self.ready.done():
                    self.ready.set_result(None)  # watchers go on; their pages catch up on reload
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if events:
                cursor = events[-1].id
                for w in list(self.watches):
                    w.notify()


_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Reader]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def watch(stream: str) -> AsyncIterator[StreamWatch]:
    """A watch on ``stream`` in this process, while inside."""
    readers = _readers.setdefault(asyncio.get_running_loop(), {})
    reader = readers.get(stream)
    if reader is None or reader.task.done():
        reader = readers[stream] = _Reader(stream)
    w = StreamWatch(stream)
    reader.watches.add(w)
    try:
        await asyncio.shield(reader.ready)
        yield w
    finally:
        reader.watches.discard(w)
        if not reader.watches and readers.get(stream) is reader:
            del readers[stream]  # its task ends after its current read; a new watch starts another


def watcher_count(stream: str | None = None) -> int:
    """Watches in this event loop (of ``stream``, or of all streams): tests and diagnostics."""
    readers = _readers.get(asyncio.get_running_loop(), {})
    return sum(len(r.watches) for name, r in readers.items() if stream is None or name == stream)


def reader_count() -> int:
    """Reader tasks alive for the watched streams of this event loop (one per stream)."""
    readers = _readers.get(asyncio.get_running_loop(), {})
    return sum(not r.task.done() for r in readers.values())
