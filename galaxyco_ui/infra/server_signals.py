"""The production server's signals: SIGTERM always stops it, within 10 s.

``reflex run --env prod`` (``make run``) serves through gunicorn and GalaxyCo's uvicorn
worker (``infra/asgi_worker.py``). Reflex starts gunicorn as a child of the ``reflex``
process and waits for it; a SIGTERM to ``reflex`` (what a process manager sends) would
kill ``reflex`` alone and leave gunicorn serving, orphaned. ``install_launcher()``, called
by ``rxconfig.py`` (every ``reflex`` command imports it), wraps Reflex's gunicorn launch:
it puts GalaxyCo's gunicorn options in ``GUNICORN_CMD_ARGS`` ahead of the operator's,
and while gunicorn runs, forwards SIGTERM and SIGINT to it (and again every second
until it is gone, in case one landed before gunicorn installed its handlers), so
``reflex`` exits when gunicorn has stopped.

``install()`` is for granian, still reachable with ``REFLEX_USE_GRANIAN=true``. Granian's
supervisor (2.8.9, the newest release) waits in ``threading.Event.wait()`` and its
SIGTERM handler calls ``Event.set()`` on that same event. Python runs signal handlers in
the main thread between bytecodes, so a signal that lands while ``wait()`` holds the
event's internal lock makes ``set()`` block on a lock its own thread holds: the process
ignores SIGTERM for good (seen once, with a stack dump showing exactly that).
``install()`` replaces granian's two supervisor handlers with ones that record the signal
as before but call ``set()`` from a short-lived thread, which simply waits for the main
thread to release the lock. Reflex imports the app module in the supervisor before it
starts granian, so calling this at import time of the app covers that path; without
granian it does nothing.

``bench/shutdown.py`` starts and stops the server in a loop to check that it always
stops within 10 s.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any

from galaxyco_ui.infra import asgi_worker

_installed = False
_launcher_installed = False
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def set_gunicorn_environment(environ: MutableMapping[str, str], *, scale_out: bool) -> None:
    """Put GalaxyCo's gunicorn options in ``environ`` for Reflex's gunicorn launch.

    ``GUNICORN_CMD_ARGS`` becomes ``asgi_worker.gunicorn_args()`` followed by whatever the
    operator set there (gunicorn takes an option's last value, so theirs win), and in the
    scale-out mode ``WEB_CONCURRENCY`` (gunicorn's default process count) is set to
    ``asgi_worker.scale_out_workers()`` unless the operator set it.
    """
    ours = asgi_worker.gunicorn_args(scale_out=scale_out)
    environ["GUNICORN_CMD_ARGS"] = f"{ours} {environ.get('GUNICORN_CMD_ARGS', '')}".strip()
    if scale_out:
        environ.setdefault("WEB_CONCURRENCY", str(asgi_worker.scale_out_workers()))


def _children(pid: int) -> list[int]:
    """The living direct children of ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


@contextlib.contextmanager
def forwarding_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT go to this process's children instead of it.

    A signal that finds no child (it came before the child started) acts as it would
    have without this (the previous handler, or the default: the process exits). After a
    signal, a thread sends it again every second while children remain: one that reached
    a child before the child installed its handlers is not lost.
    """
    me = os.getpid()
    previous = {sig: signal.getsignal(sig) for sig in FORWARDED_SIGNALS}
    received = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        children = _children(me)
        if not children:
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(me, signum)
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if not received.is_set():
            received.set()
            threading.Thread(target=repeat, args=(signum,), name="server-stop", daemon=True).start()

    def repeat(signum: int) -> None:
        while True:
            time.sleep(1)
            children = _children(me)
            if not children:
                return
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def install_launcher(*, scale_out: bool) -> None:
    """Wrap Reflex's gunicorn launch (idempotent): GalaxyCo's options, forwarded signals.

    Args:
        scale_out: whether ``REDIS_URL`` is set (``asgi_worker.gunicorn_args``).
    """
    global _launcher_installed
    if _launcher_installed or threading.current_thread() is not threading.main_thread():
        return
    from reflex.utils import exec as reflex_exec

    launch: Callable[..., Any] = reflex_exec.run_uvicorn_backend_prod

    @functools.wraps(launch)
    def run_gunicorn(*args: Any, **kwargs: Any) -> Any:
        set_gunicorn_environment(os.environ, scale_out=scale_out)
        with forwarding_signals():
            return launch(*args, **kwargs)

    reflex_exec.run_uvicorn_backend_prod = run_gunicorn
    _launcher_installed = True


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
