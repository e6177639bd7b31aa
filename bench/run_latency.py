"""P1: run start → first event seen by a watching client, at 20 concurrent runs.

For each run: t0 = just before ``services.runs.start_run(...)``; as soon as it returns, a
watcher reads ``EventBus.read(run_stream(id), after=None, wait=5)`` (from the stream's
start, as a client subscribing with the new run id does). Reported, relative to t0:

- ``start_run``: the call returned (the run is committed, announced and enqueued);
- ``first event``: the watcher received its first event (the ``queued`` status);
- ``running``: the executor claimed the run (``status: running``);
- ``first text``: the first text delta; ``final``: the ``final`` event.

Target: first event p50 ≤ 10 ms, p95 ≤ 30 ms. The emulator answers instantly.

    .venv/bin/python -m bench.run_latency            # embedded (SQLite, in-process)
    .venv/bin/python -m bench.run_latency --redis    # PostgreSQL + Redis, SAQ in-process and subprocess
"""

from __future__ import annotations

import asyncio
import os
import time

from bench import _setup

ROUNDS, CONCURRENT = 10, 20
METRICS = ("start_run", "first event", "running", "first text", "final")


async def one_run(b: _setup.Bench) -> dict[str, float]:
    from galaxyco_ui.services.runs import start_run

    t0 = time.perf_counter()
    view = await start_run(ctx=b.ctx, agent_id=b.agent_id, input="ping")
    marks = {"start_run": time.perf_counter() - t0}
    for at, event in await _setup.follow(view.id):
        ms = (at - t0) * 1000
        marks.setdefault("first event", ms)
        if event.type == "status" and event.data.get("status") == "running":
            marks.setdefault("running", ms)
        elif event.type == "text":
            marks.setdefault("first text", ms)
        elif event.type == "final":
            marks["final"] = ms
            assert event.data["status"] == "succeeded", event.data
    marks["start_run"] *= 1000
    return marks


async def measure(b: _setup.Bench, label: str, concurrent: int = CONCURRENT) -> list[list[object]]:
    samples: list[dict[str, float]] = []
    for _ in range(ROUNDS):
        samples += await asyncio.gather(*(one_run(b) for _ in range(concurrent)))
    rows: list[list[object]] = []
    for metric in METRICS:
        values = [s[metric] for s in samples if metric in s]
        rows.append([label, metric, len(values), _setup.pct(values, 50), _setup.pct(values, 95), max(values)])
    return rows


async def main(redis: bool, shared_ssl: bool) -> None:
    shapes = ["inproc", "subprocess"] if redis else ["embedded"]
    rows: list[list[object]] = []
    if shared_ssl:
        _setup.share_ssl_context()
    with _setup.bench(redis=redis) as b:
        for shape in shapes:
            async with _setup.executors(b, shape, concurrency=32):
                rows += await measure(b, f"{shape}, 1 at a time", concurrent=1)
                with _setup.profiled(f"p1-{shape}", ROUNDS * CONCURRENT):
                    rows += await measure(b, f"{shape}, {CONCURRENT} at once")
    what_if = " [what-if: shared SSL context in this process]" if shared_ssl else ""
    print(
        f"\nP1 run latency, ms from just before start_run ({ROUNDS} rounds){what_if}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    _setup.print_table(["executor, runs in flight", "metric", "n", "p50", "p95", "max"], rows)
    print("target: first event p50 <= 10 ms, p95 <= 30 ms")


if __name__ == "__main__":
    args = _setup.parse_args(__doc__.splitlines()[0])
    _setup.configure(redis=args.redis, run_concurrency=64)
    asyncio.run(main(args.redis, args.shared_ssl))
