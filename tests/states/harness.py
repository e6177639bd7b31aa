"""Reflex event handlers called in-process, as a given browser would send them.

The app's own event processor runs the events (``BaseStateEventProcessor``, the one the
websocket feeds) with the app's state manager (memory, or Redis with TEST_REDIS_URL).
Only the socket is replaced: a ``Wire`` stands in for the event namespace, records every
update sent to each client (state deltas and frontend events) and knows which clients
are connected, which is what ``states.live.client_connected`` asks.

A ``Browser`` is one tab: its own client token, and the headers of its websocket
handshake (the session cookie, or none). ``send`` builds the event exactly as
``EventNamespace.on_event`` does, router data included, so the handler reads the
cookie from ``self.router.headers`` as in production.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex.istate.manager import StateManager
from reflex.istate.manager.token import BaseStateToken
from reflex.state import StateUpdate
from reflex_base.event import Event, EventHandler
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.registry import RegistrationContext
from reflex_base.utils.format import format_event_handler, json_dumps

from galaxyco_ui.auth.tokens import SESSION_COOKIE

ORIGIN = "http://localhost:3000"
_tokens = itertools.count(1)


@dataclass
class Wire:
    """The fake socket: what each client received, and who is connected."""

    updates: dict[str, list[StateUpdate]] = field(default_factory=dict)
    token_to_sid: dict[str, str] = field(default_factory=dict)

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        self.updates.setdefault(token, []).append(update)


class Hub:
    """The app's event processor with a ``Wire`` for a socket."""

    def __init__(self, app: rx.App) -> None:
        self.app = app
        self.wire = Wire()
        self.errors: list[BaseException] = []
        self.processor = BaseStateEventProcessor(backend_exception_handler=self._record).configure(
            state_manager=StateManager.create(), event_namespace=self.wire
        )

    def _record(self, exc: Exception) -> None:
        self.errors.append(exc)

    async def start(self) -> None:
        await self.processor.start()

    async def stop(self) -> None:
        await self.processor.stop(graceful_shutdown_timeout=0)
        await self.processor._root_context.state_manager.close()  # type: ignore[union-attr]

    def browser(self, *, session_token: str = "") -> Browser:
        return Browser(self, token=f"client-{next(_tokens)}", session_token=session_token)

    def tasks_of(self, token: str) -> list[str]:
        """Names of the handlers still running for ``token`` (background ones included)."""
        # Task names are "reflex_event|<event name>|<token>|<txid>" (EventProcessor).
        return [
            task.get_name().split("|")[1]
            for task in self.processor._tasks.values()
            if task.get_name().split("|")[2:3] == [token]
        ]


class Browser:
    """One connected tab, signed in (``session_token``) or not."""

    def __init__(self, hub: Hub, *, token: str, session_token: str) -> None:
        self.hub, self.token = hub, token
        self.path, self.route = "/", "/"
        self.headers = {"origin": ORIGIN, "user-agent": "pytest"}
        if session_token:
            self.headers["cookie"] = f"{SESSION_COOKIE}={session_token}"
        hub.wire.token_to_sid[token] = f"sid-{token}"

    def at(self, path: str) -> Browser:
        """Navigate: later events carry this page's router data (route matched by the app)."""
        self.path = path
        self.route = "/" + (self.hub.app.router(path) or "404").removeprefix("/")
        return self

    def router_data(self) -> dict[str, Any]:
        return {
            "pathname": self.route,
            "asPath": self.path,
            "query": {},
            "headers": dict(self.headers),
            "ip": "203.0.113.7",
            "sid": self.hub.wire.token_to_sid.get(self.token, ""),
            "token": self.token,
        }

    async def send(self, handler: EventHandler, settle: float = 5.0, **payload: Any) -> list[StateUpdate]:
        """Send one event; return the updates this client received until it settled.

        Settled means: the event and every foreground event it chained are done
        (background tasks it started may still be running; see ``running``).
        """
        start = len(self.hub.wire.updates.get(self.token, []))
        event = Event(name=format_event_handler(handler), payload=payload, router_data=self.router_data())
        await self.hub.processor.enqueue(self.token, event)
        await self.settle(settle)
        return self.hub.wire.updates.get(self.token, [])[start:]

    async def settle(self, timeout: float) -> None:
        handlers = RegistrationContext.get().event_handlers
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            queue = self.hub.processor._queue
            busy = [
                name
                for name in self.running()
                if not (name in handlers and handlers[name].handler.is_background)
            ]
            if not busy and (queue is None or queue.empty()):
                return
        raise AssertionError(f"{self.token}: still busy after {timeout} s: {self.running()}")

    def running(self) -> list[str]:
        return self.hub.tasks_of(self.token)

    async def disconnect(self, timeout: float = 6.0) -> list[str]:
        """Close the tab; return the handlers still running ``timeout`` seconds later."""
        self.hub.wire.token_to_sid.pop(self.token, None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Polled: the processor's task table has nothing to wait on.
        while self.running() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self.running()

    def received(self) -> Iterator[str]:
        """Everything sent to this tab so far, as the JSON that goes over the wire."""
        for update in self.hub.wire.updates.get(self.token, []):
            yield json_dumps(update)

    async def state(self, cls: type[rx.State]) -> rx.State:
        """This tab's instance of ``cls`` (a copy to read; changes are not saved)."""
        manager = self.hub.processor._root_context.state_manager  # type: ignore[union-attr]
        root = await manager.get_state(BaseStateToken(ident=self.token, cls=cls))
        return await root.get_state(cls)
