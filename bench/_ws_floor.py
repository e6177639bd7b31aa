"""The P8 floor: a bare ASGI websocket app that speaks just enough Engine.IO/Socket.IO for
``bench.idle_clients`` (greeting, the CONNECT answered with a "hydrated" event, pings), served
by gunicorn with GalaxyCo's uvicorn worker exactly as the app is (infra/asgi_worker.py). Its
memory per idle connection is what the server itself costs per websocket, before any Reflex,
Socket.IO or GalaxyCo object exists.

    .venv/bin/python -m bench.idle_clients --floor --clients 1000
    .venv/bin/python -m bench.idle_clients --floor --clients 1000 --worker-class MODULE.CLASS
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

PING_SECONDS = 25.0  # Reflex's Engine.IO ping interval
GREETING = "0" + json.dumps({"sid": "floor", "upgrades": [], "pingInterval": 25000, "pingTimeout": 120000})
HYDRATED = '42/_event,["event",{"delta":{"state":{"is_hydrated_rx_state_":true}}}]'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"floor"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": GREETING})

    async def ping() -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            await send({"type": "websocket.send", "text": "2"})

    pinger = asyncio.create_task(ping())
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text.startswith("40/_event,"):
                await send({"type": "websocket.send", "text": '40/_event,{"sid":"floor"}'})
                await send({"type": "websocket.send", "text": HYDRATED})
    finally:
        pinger.cancel()
