"""The bell's live path: "these members have something new" on one stream, fanned out
in each process.

``publish`` appends ``{"workspace_id", "user_ids"}`` to the ``notifications`` stream of
the event bus (``infra/bus.py``: in-process, or Redis Streams shared by every process).
Each backend process reads that stream with ONE reader task, started when its first
bell subscribes and stopped when its last one leaves, and sets the flag of every local
subscription of a named member in that workspace. An idle bell is a flag and a waiting
coroutine: no database query and no Redis connection of its own, whatever the number of
open browsers.

    async with subscribe(user_id, workspace_id) as sub:
        ...read the count...
        changed = await sub.wait(seconds)   # True: something new since the last wait

A subscription exists before the first read of the count, so nothing published between
that read and the wait is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Iterable

from galaxyco_ui.infra.bus import get_event_bus
from galaxyco_ui.infra.bus_watch import Wakeup

log = logging.getLogger("galaxyco.notifications")

STREAM = "notifications"
READ_WAIT_SECONDS = 1.0  # how long the reader outlives the last bell of its process


async def publish(workspace_id: str, user_ids: Iterable[str]) -> None:
    """Tell every process that these members of the workspace have new notifications.

    Never raises: the rows are committed, and a bell that missed the push shows them
    when its page loads again.
    """
    recipients = sorted(set(user_ids))
    if not recipients:
        return
    try:
        await get_event_bus().publish(
            STREAM, "notification", {"workspace_id": workspace_id, "user_ids": recipients}
        )
    except Exception:
        log.exception("could not publish a notification event", extra={"workspace_id": workspace_id})


class Subscription(Wakeup):
    """One bell's flag: set when its member gets something new in its workspace
    (``wait(seconds)``: True when something new arrived, False after ``seconds``)."""

    def __init__(self, key: tuple[str, str]) -> None:
        super().__init__()
        self.key = key


class _Hub:
    """The subscriptions of one event loop and the task reading the stream for them."""

    def __init__(self) -> None:
        self.subscriptions: dict[tuple[str, str], set[Subscription]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.ready: asyncio.Future[None] | None = None

    def dispatch(self, data: object) -> None:
        if not isinstance(data, dict):
            return
        workspace_id, user_ids = data.get("workspace_id"), data.get("user_ids")
        if not isinstance(workspace_id, str) or not isinstance(user_ids, list):
            return
        for user_id in user_ids:
            for sub in self.subscriptions.get((str(user_id), workspace_id), ()):
                sub.notify()

    async def read(self, ready: asyncio.Future[None]) -> None:
        """Follow the stream while this loop has subscriptions (it ends on its own, never
        cancelled: a cancelled blocking XREAD would leave its Redis connection behind)."""
        bus = get_event_bus()
        cursor: str | None = None
        while self.subscriptions:
            try:
                if not ready.done():
                    cursor = await bus.last_id(STREAM) or "0"
                    ready.set_result(None)
                events = await bus.read(STREAM, after=cursor, wait=READ_WAIT_SECONDS)
            except Exception:
                log.exception("reading the notifications stream failed; retrying")
                if not ready.done():
                    ready.set_result(None)  # subscribers go on; their bells catch up on reload
                await asyncio.sleep(1.0)
                continue
            for event in events:
                cursor = event.id
                self.dispatch(event.data)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def subscribe(user_id: str, workspace_id: str) -> AsyncIterator[Subscription]:
    """A subscription to the member's new notifications in the workspace, while inside."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub()
    sub = Subscription((user_id, workspace_id))
    hub.subscriptions.setdefault(sub.key, set()).add(sub)
    if hub.reader is None or hub.reader.done():
        hub.ready = loop.create_future()
        hub.reader = loop.create_task(hub.read(hub.ready), name="notifications-reader")
    assert hub.ready is not None
    try:
        await asyncio.shield(hub.ready)
        yield sub
    finally:
        subs = hub.subscriptions.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del hub.subscriptions[sub.key]
        reader = hub.reader
        if not hub.subscriptions and reader is not None:
            # The reader sees no subscription after its current read and ends: wait for
            # it, so no task outlives the last bell (a new bell meanwhile keeps it going).
            await asyncio.wait({reader}, timeout=READ_WAIT_SECONDS + 1.0)


def subscriber_count() -> int:
    """Bells subscribed in this event loop (tests and metrics)."""
    hub = _hubs.get(asyncio.get_running_loop())
    return sum(len(s) for s in hub.subscriptions.values()) if hub else 0
