"""A tiny ASGI app for tests/infra/test_asgi_worker.py, served by the real production server.

``GET /client`` answers the request's client address and scheme as JSON; ``GET /stream``
sends one server-sent event, then waits (a stream left open, as a run's SSE stream is);
the websocket at ``/ws`` echoes until the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def client(request: Request) -> JSONResponse:
    return JSONResponse(
        {"client": request.client.host if request.client else "", "scheme": request.url.scheme}
    )


async def stream(_request: Request) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await asyncio.sleep(3600)

    return StreamingResponse(events(), media_type="text/event-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return


app = Starlette(routes=[Route("/client", client), Route("/stream", stream), WebSocketRoute("/ws", echo)])
