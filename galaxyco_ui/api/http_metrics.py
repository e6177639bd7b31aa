"""Pure ASGI middleware feeding ``infra/metrics``: HTTP latency and open websockets.

It wraps the whole backend (our routes, the platform API and Reflex's own app, which
``api_transformer`` mounts inside ours), so it sees every request and the websocket that
each browser tab keeps open to Reflex's event endpoint.

* **Latency** is labelled with the *route template* that matched
  (``/api/v1/runs/{run_id}``), read from ``scope["route"]`` after the routers ran: the
  innermost router leaves its route there, and ``root_path`` holds the mount prefixes
  above it (our mounts have no path parameters, so no id can reach a label). A request
  no route matched is ``unmatched``; a mount's tail is ``{path}``. Methods outside the
  standard set are ``other``; statuses are classes (``2xx``). A streamed response (SSE)
  counts until it closes.
* **Websocket clients** are counted from the ``websocket.accept`` the app sends to the
  connection's close: Reflex has no connect/disconnect hook an app can add to without
  replacing its event namespace, and the ASGI connection is exactly one browser tab.
"""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galaxyco_ui.infra import metrics

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(scope: Scope, entry_root_path: str = "") -> str:
    """The template of the route that handled ``scope`` (after the app ran), never its raw path."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(entry_root_path) :]
    if isinstance(route, Mount):  # root_path already ends with the mount's own path
        return f"{prefix}/{{path}}"
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{prefix}{path}" or "/"


class HttpMetricsMiddleware:
    """Observe every HTTP request's latency and count open websockets (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry_root_path = str(scope.get("root_path", ""))
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope.get("method", "")
            metrics.http_request(
                method if method in _METHODS else "other",
                route_template(scope, entry_root_path),
                f"{status // 100}xx",
                time.perf_counter() - started,
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False

        async def counting_send(message: Message) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                metrics.websocket_connected(+1)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if accepted:
                metrics.websocket_connected(-1)
