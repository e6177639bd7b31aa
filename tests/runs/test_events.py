"""The in-process event bus (embedded mode) frees what finished runs leave behind."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.runs.events import MemoryEventBus, get_event_bus, reset_event_bus, run_stream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_finished_runs_stream_is_freed_after_the_ttl_and_a_live_one_is_kept():
    clock = Clock()
    bus = MemoryEventBus(ttl_seconds=60, clock=clock)
    await bus.publish("finished", "final", {"status": "succeeded"})
    await bus.end("finished")
    await bus.publish("live", "text", {"delta": "still going"})

    clock.now += 59
    assert [e.type for e in await bus.read("finished", after=None)] == ["final"]  # late reader
    clock.now += 61
    await bus.publish("other", "status", {})  # any activity sweeps

    assert await bus.read("finished", after=None) == []
    assert await bus.last_id("finished") is None
    assert [e.type for e in await bus.read("live", after=None)] == ["text"]
    assert len(bus) == 2


async def test_a_finished_stream_that_is_still_being_watched_is_kept():
    clock = Clock()
    bus = MemoryEventBus(ttl_seconds=60, clock=clock)
    first = await bus.publish("run", "text", {"delta": "a"})
    await bus.publish("run", "final", {})
    await bus.end("run")

    for _ in range(5):  # a page replays it slowly, well past the TTL counted from its end
        clock.now += 50
        await bus.publish("noise", "status", {})
        assert [e.type for e in await bus.read("run", after=first)] == ["final"]

    clock.now += 61
    await bus.publish("noise", "status", {})
    assert await bus.read("run", after=None) == []


async def test_a_stream_a_reader_waits_on_is_not_freed_under_it():
    clock = Clock()
    bus = MemoryEventBus(ttl_seconds=1, clock=clock)
    await bus.publish("run", "status", {"status": "running"})
    await bus.end("run")
    waiting = asyncio.create_task(bus.read("run", after="999", wait=5))
    await asyncio.sleep(0)

    clock.now += 10
    await bus.publish("noise", "status", {})
    assert [e.type for e in await bus.read("run", after=None)] == ["status"]
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting


async def test_at_most_max_streams_are_kept_evicting_finished_ones_first():
    clock = Clock()
    bus = MemoryEventBus(max_streams=3, ttl_seconds=3600, clock=clock)
    await bus.publish("live", "text", {"delta": "a"})
    for n in range(10):
        clock.now += 1
        await bus.publish(f"done-{n}", "final", {})
        await bus.end(f"done-{n}")

    assert len(bus) == 3
    assert [e.type for e in await bus.read("live", after=None)] == ["text"]  # live outlives finished
    assert [e.type for e in await bus.read("done-9", after=None)] == ["final"]  # newest finished kept
    assert await bus.read("done-0", after=None) == []


async def test_a_stream_published_to_again_after_eviction_never_reuses_a_cursor():
    bus = MemoryEventBus(max_streams=1)
    cursor = await bus.publish("run", "text", {"delta": "one"})
    await bus.publish("other", "text", {})  # evicts "run"
    await bus.publish("run", "text", {"delta": "two"})

    assert [e.data["delta"] for e in await bus.read("run", after=cursor)] == ["two"]


async def test_the_embedded_bus_takes_its_bounds_from_the_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("RUN_EVENT_MAX_STREAMS", "2")
    reset_settings()
    reset_event_bus()
    try:
        bus = get_event_bus()
        for n in range(5):
            await bus.publish(run_stream(f"r{n}"), "final", {})
            await bus.end(run_stream(f"r{n}"))

        assert await bus.read(run_stream("r0"), after=None) == []
        assert [e.type for e in await bus.read(run_stream("r4"), after=None)] == ["final"]
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_event_bus()
