"""Make the production server's SIGTERM/SIGINT handling deadlock-free.

``make run`` (``reflex run --env prod``) serves through granian. Granian's supervisor
(2.8.9, the newest release) waits in ``threading.Event.wait()`` and its SIGTERM handler
calls ``Event.set()`` on that same event. Python runs signal handlers in the main thread
between bytecodes, so a signal that lands while ``wait()`` holds the event's internal
lock (entering or leaving its condition wait) makes ``set()`` block on a lock its own
thread holds: the process ignores SIGTERM for good. This was seen once as ``make run``
still alive minutes after SIGTERM, with a stack dump showing exactly that.

``install()`` replaces granian's two supervisor handlers with ones that record the
signal as before but call ``set()`` from a short-lived thread, which simply waits for the
main thread to release the lock. Reflex imports the app module in the supervisor before
it starts granian (fork start method), so calling this at import time of the app covers
``make run``; without granian it does nothing. ``bench/shutdown.py`` starts and stops the
server in a loop to check that it always stops within 10 s.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False


def _set_from_thread(event: Any) -> None:
    if isinstance(event, threading.Event):
        threading.Thread(target=event.set, name="server-signal", daemon=True).start()
    else:  # granian's embedded server waits on an asyncio.Event: no lock, and not thread-safe
        event.set()


def install() -> None:
    """Patch granian's supervisor signal handlers (idempotent; a no-op without granian)."""
    global _installed
    if _installed:
        return
    try:
        from granian.server.common import AbstractServer
    except ImportError:
        return

    def interrupt(self: Any, *_args: Any, **_kwargs: Any) -> None:
        self.interrupt_signal = True
        _set_from_thread(self.main_loop_interrupt)

    def reload(self: Any, *_args: Any, **_kwargs: Any) -> None:
        self.reload_signal = True
        _set_from_thread(self.main_loop_interrupt)

    AbstractServer.signal_handler_interrupt = interrupt  # type: ignore[method-assign]
    AbstractServer.signal_handler_reload = reload  # type: ignore[method-assign]
    _installed = True
