"""Runs on the provider emulator, for the run endpoints' tests.

A test module makes its fixtures from ``wire_agent`` and ``close_clients`` (``engine``,
tests/background.py, executes the queued runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import uvicorn

from galaxyco_ui.api import create_api
from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from galaxyco_ui.models import Run
from galaxyco_ui.services import provider_keys
from galaxyco_ui.services.agents import AgentView
from tests.factories import Team, make_agent

MODEL = "test-model"


def wire_agent(team: Team, emulator: Emulator, **overrides: object) -> AgentView:
    """A calculator agent of ``team`` on the emulator, made by its admin (whose keys' own it is)."""
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai_compatible",
        api_key="emulator-key",
        base_url=emulator.openai_base_url,
    )
    values: dict[str, object] = {
        "name": "Calc",
        "provider": "openai_compatible",
        "model": MODEL,
        "tools": ["calculator"],
        "max_steps": 4,
        **overrides,
    }
    return make_agent(team.admin, **values)


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[str]:
    """The backend app on a real socket (uvicorn, in this event loop); yields its /api/v1 URL.

    For clients that must see a response as it streams (``httpx.ASGITransport`` hands
    over whole responses only).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_api(), lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn tells only by this flag
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def close_clients() -> None:
    """Close the async Redis client and the job queue a test used without ``engine``."""
    await close_job_queue()
    await close_async_redis()


def sse_events(body: str) -> list[dict[str, object]]:
    """The events of a text/event-stream body: ``{"id", "event", "data"}`` (comments dropped)."""
    events = []
    for block in body.split("\n\n"):
        fields: dict[str, object] = {"id": ""}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            name, value = line.split(": ", 1)
            fields[name] = json.loads(value) if name == "data" else value
        if "event" in fields:
            events.append(fields)
    return events


def insert_run(team_ctx: TenantContext, agent_id: str, **values: object) -> str:
    """A run row written directly (nothing executes it)."""
    with session_scope() as session:
        run = Run(
            workspace_id=team_ctx.workspace_id,
            created_by=team_ctx.user_id,
            agent_id=agent_id,
            input=str(values.pop("input", "Hi")),
            agent_snapshot={"name": "Direct", "provider": "openai", "model": "gpt-4.1-mini"},
            **values,
        )
        session.add(run)
        session.flush()
        return run.id
