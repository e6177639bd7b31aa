"""Helpers for live pages: is this browser still connected, and the throttle interval.

Reflex does not stop a background task when its browser goes away, so every live
loop asks ``client_connected`` each turn and ends itself. Any client can start a live
loop (handlers are public), so each one also resolves its session again at least
every ``RECHECK_SECONDS`` and reads only through tenant-checked services.
"""

from __future__ import annotations

import reflex as rx
from reflex.utils import prerequisites

UI_UPDATE_INTERVAL = 0.05  # at most ~20 state updates per second per view
RECHECK_SECONDS = 2.0  # how stale a live loop's session may get (revoked, removed, switched)


def client_connected(state: rx.State) -> bool:
    namespace = prerequisites.get_app().app.event_namespace
    if namespace is None:
        return True
    return state.router.session.client_token in namespace.token_to_sid
