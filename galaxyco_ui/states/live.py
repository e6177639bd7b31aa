"""Helpers for live pages: is this browser still connected, and the throttle interval.

Reflex does not stop a background task when its browser goes away, so every live
loop asks ``client_connected`` each turn and ends itself.
"""

from __future__ import annotations

import reflex as rx
from reflex.utils import prerequisites

UI_UPDATE_INTERVAL = 0.05  # at most ~20 state updates per second per view


def client_connected(state: rx.State) -> bool:
    namespace = prerequisites.get_app().app.event_namespace
    if namespace is None:
        return True
    return state.router.session.client_token in namespace.token_to_sid
