"""Live run events: one ordered, resumable stream per run (and one per workspace).

The streams are carried by the event bus (``infra/bus.py``: in-process or Redis Streams);
this module names them. The bus's classes are re-exported here, where the runs engine,
its services and tests have always imported them.
"""

from __future__ import annotations

from galaxyco_ui.infra.bus import (
    ENDED_STREAM_TTL_SECONDS,
    STREAM_MAXLEN,
    EventBus,
    MemoryEventBus,
    RedisEventBus,
    RunEvent,
    get_event_bus,
    reset_event_bus,
)

__all__ = [
    "ENDED_STREAM_TTL_SECONDS",
    "STREAM_MAXLEN",
    "EventBus",
    "MemoryEventBus",
    "RedisEventBus",
    "RunEvent",
    "get_event_bus",
    "reset_event_bus",
    "run_stream",
    "workspace_stream",
]


def run_stream(run_id: str) -> str:
    return f"run:{run_id}:events"


def workspace_stream(workspace_id: str) -> str:
    """Run status changes of one workspace (the Runs screen's live monitor)."""
    return f"ws:{workspace_id}:runs"
