"""Helpers for live pages: is this browser still connected, and the throttle interval.

Reflex does not stop a background task when its browser goes away, so every live
loop asks ``client_connected`` each turn and ends itself. Any client can start a live
loop (handlers are public), so each one also resolves its session again at least
every ``RECHECK_SECONDS`` and reads only through tenant-checked services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.utils import prerequisites

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.services import run_watch
from galaxyco_ui.states.guard import session_context

UI_UPDATE_INTERVAL = 0.05  # at most ~20 state updates per second per view
RECHECK_SECONDS = 2.0  # how stale a live loop's session may get (revoked, removed, switched)


def client_connected(state: rx.State) -> bool:
    namespace = prerequisites.get_app().app.event_namespace
    if namespace is None:
        return True
    return state.router.session.client_token in namespace.token_to_sid


LIVE_WAIT_SECONDS = 2.0  # how long the loop of a closed tab may linger (a dict lookup per turn)


async def follow_workspace_runs(
    state: Any,
    ctx: TenantContext,
    generation: int,
    loops: dict[str, int],
    refresh: Callable[[TenantContext], None],
    *,
    interval: float,
) -> None:
    """Call ``refresh`` (under the state's lock) each time a run of the workspace changes.

    The body of a background handler that keeps a view of the caller's workspace live
    (the Runs screen, the Approvals count). The watch is the session's workspace's, never
    one from state; the session is resolved again before every refresh. One reader per
    workspace per process wakes every tab (``services.run_watch``); idle, a turn takes no
    lock and does no I/O. ``loops`` holds each tab's newest generation (client token ->
    generation): a newer load of the view ends this loop, as does a closed tab, a
    changed session, or ``state._generation`` moving on.
    """
    async with state:
        if generation != state._generation:
            return
    token = state.router.session.client_token
    loops[token] = generation
    try:
        # Only what comes next: the view was just loaded from the database.
        async with run_watch.watch_workspace_runs(ctx=ctx) as changes:
            while True:
                changed = await changes.wait(LIVE_WAIT_SECONDS)
                if loops.get(token) != generation or not client_connected(state):
                    return
                if not changed:
                    continue
                fresh = session_context(state)
                if fresh is None or fresh.workspace_id != ctx.workspace_id:
                    return
                ctx = fresh
                async with state:
                    if generation != state._generation:
                        return
                    try:
                        refresh(ctx)
                    except GalaxyError:
                        return
                await asyncio.sleep(interval)
    finally:
        if loops.get(token) == generation:
            del loops[token]
