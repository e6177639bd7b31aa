"""P2: completed runs per second through the queue + executor (emulator answering instantly).

Starts N runs (1,000 embedded, 500 with ``--redis``) as fast as possible (64 ``start_run`` calls in flight) and polls the
database (one COUNT every 50 ms) until all N are terminal. Throughput = N / (time from
the first start to the last terminal run). Also prints the CPU seconds per run of this
process and of the worker processes.

Then the diagnosis: the same load through an executor in this process, with the phases
of ``execute_run`` timed by wrappers installed here (``store.claim_run`` /
``append_model_step`` (model turns) / ``append_step`` (tool steps) / ``finish_run`` in
their worker thread, the OpenAI client construction,
the provider stream, event publishes, the whole ``execute_run``), first one run at a
time (uncontended cost), then all at once.

Target: ≥ 300 runs/s.

    .venv/bin/python -m bench.run_throughput            # embedded (SQLite, in-process)
    .venv/bin/python -m bench.run_throughput --redis    # PostgreSQL + Redis, 1 and 2 worker subprocesses
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench import _setup

N_RUNS, N_RUNS_REDIS, N_DIAG, N_SEQUENTIAL, STARTERS = 1000, 500, 300, 30, 64
PHASES: dict[str, list[float]] = defaultdict(list)


async def start_many(b: _setup.Bench, n: int) -> float:
    """Start ``n`` runs with ``STARTERS`` calls in flight; returns when all returned (perf_counter)."""
    from galaxyco_ui.services.runs import start_run

    gate = asyncio.Semaphore(STARTERS)

    async def one() -> None:
        async with gate:
            t0 = time.perf_counter()
            await start_run(ctx=b.ctx, agent_id=b.agent_id, input="ping")
            PHASES["start_run (caller)"].append(time.perf_counter() - t0)

    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter()


def terminal_counts() -> tuple[int, int]:
    """(terminal runs, succeeded runs) in the database."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import Run
    from galaxyco_ui.models.runs import TERMINAL_STATUSES

    with session_scope() as session:
        done = session.exec(
            select(func.count()).select_from(Run).where(col(Run.status).in_(TERMINAL_STATUSES))
        ).one()
        ok = session.exec(select(func.count()).select_from(Run).where(Run.status == "succeeded")).one()
        return done, ok


def unfinished_runs(most: int = 5) -> list[str]:
    """What a stuck bench shows: the first runs not yet terminal, with their timestamps."""
    from sqlmodel import col, select

    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import Run
    from galaxyco_ui.models.runs import TERMINAL_STATUSES

    with session_scope() as session:
        runs = session.exec(select(Run).where(col(Run.status).not_in(TERMINAL_STATUSES)).limit(most)).all()
        return [
            f"{r.id} {r.status} created {r.created_at:%H:%M:%S.%f} started {r.started_at} "
            f"heartbeat {r.heartbeat_at} steps {r.step_count} error {r.error!r}"
            for r in runs
        ]


async def throughput(b: _setup.Bench, n: int) -> dict[str, float]:
    """Start ``n`` runs and wait until all are terminal; figures for one table row."""
    base_done, base_ok = await asyncio.to_thread(terminal_counts)
    pids = _setup.child_pids()
    cpu0, wcpu0 = time.process_time(), _setup.worker_pids_cpu(pids)
    t0 = time.perf_counter()
    starter = asyncio.create_task(start_many(b, n))
    done = ok = 0
    while done < n:
        await asyncio.sleep(0.05)
        total_done, total_ok = await asyncio.to_thread(terminal_counts)
        done, ok = total_done - base_done, total_ok - base_ok
        if starter.done() and starter.exception() is not None:
            raise RuntimeError(f"a start failed after {done} runs finished") from starter.exception()
        if time.perf_counter() - t0 > 120:
            raise TimeoutError(f"only {done}/{n} runs finished in 120 s; unfinished: {unfinished_runs()}")
    elapsed = time.perf_counter() - t0
    started_at = await starter
    return {
        "runs": n,
        "succeeded": ok,
        "starts/s": n / (started_at - t0),
        "runs/s": n / elapsed,
        "seconds": elapsed,
        "cpu ms/run (this)": (time.process_time() - cpu0) / n * 1000,
        "cpu ms/run (workers)": (_setup.worker_pids_cpu(pids) - wcpu0) / n * 1000,
    }


# ---------------------------------------------------------------- phase timing (diagnosis)


def _timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name].append(time.perf_counter() - t0)

    return wrapper


def _timed_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            PHASES[name].append(time.perf_counter() - t0)

    return wrapper


def install_phase_timers() -> None:
    """Wrap the executor's phases (bench-only monkeypatching; nothing in galaxyco_ui changes)."""
    from galaxyco_ui.jobs.registry import replace_function
    from galaxyco_ui.providers import openai_chat
    from galaxyco_ui.runs import executor, store
    from galaxyco_ui.runs.events import get_event_bus

    for name in ("claim_run", "append_model_step", "append_step", "finish_run"):
        setattr(store, name, _timed_sync(f"store.{name} (in thread)", getattr(store, name)))
    openai_chat.OpenAIChat.__init__ = _timed_sync(  # type: ignore[method-assign]
        "OpenAIChat() construction (blocks loop)", openai_chat.OpenAIChat.__init__
    )
    openai_chat.OpenAIChat.aclose = _timed_async("provider.aclose()", openai_chat.OpenAIChat.aclose)  # type: ignore[method-assign]
    timed_run = _timed_async("execute_run total (wall)", executor.execute_run)
    # Both queues look the job's function up when it starts (embedded task, SAQ job).
    replace_function(executor.RUN_JOB, timed_run)
    bus = get_event_bus()
    bus.publish = _timed_async("bus.publish (each)", bus.publish)  # type: ignore[method-assign]
    original_stream = executor.stream_with_retries

    async def timed_stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        t0 = time.perf_counter()
        first = True
        async for event in original_stream(*args, **kwargs):
            if first:
                PHASES["provider: request → first event"].append(time.perf_counter() - t0)
                first = False
            yield event
        PHASES["provider: whole stream (wall)"].append(time.perf_counter() - t0)

    executor.stream_with_retries = timed_stream


def phase_rows(label: str, runs: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, values in sorted(PHASES.items()):
        ms = [v * 1000 for v in values]
        rows.append(
            [label, name, len(ms), sum(ms) / len(ms), _setup.pct(ms, 95), sum(ms) / runs]  # per run
        )
    PHASES.clear()
    return rows


async def diagnose(b: _setup.Bench, label: str) -> list[list[object]]:
    rows: list[list[object]] = []
    PHASES.clear()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(N_SEQUENTIAL):
        await _setup.run_to_final(b)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    rows += phase_rows(f"{label}, 1 at a time", N_SEQUENTIAL)
    rows.append(
        [f"{label}, 1 at a time", "process CPU per run", N_SEQUENTIAL, cpu / N_SEQUENTIAL * 1000, "", ""]
    )
    rows.append(
        [
            f"{label}, 1 at a time",
            "wall per run (start→final)",
            N_SEQUENTIAL,
            wall / N_SEQUENTIAL * 1000,
            "",
            "",
        ]
    )
    figures = await throughput(b, N_DIAG)
    rows += phase_rows(f"{label}, {N_DIAG} at once", N_DIAG)
    rows.append([f"{label}, {N_DIAG} at once", "runs/s (with timers)", N_DIAG, figures["runs/s"], "", ""])
    return rows


async def main(redis: bool) -> None:
    results: list[tuple[str, dict[str, float]]] = []
    with _setup.bench(redis=redis) as b:
        if redis:
            for workers in (1, 2):
                async with _setup.executors(b, "subprocess", workers=workers, concurrency=32):
                    waited = await asyncio.to_thread(_setup.settle)
                    print(f"{workers} worker(s): start-up work settled {waited:.1f} s after the warm-up runs")
                    with _setup.profiled(f"p2-redis-{workers}-workers", N_RUNS_REDIS):
                        figures = await throughput(b, N_RUNS_REDIS)
                    results.append((f"{workers} worker process(es) x 32", figures))
        else:
            n = N_DIAG if _setup.PROFILE_DIR else N_RUNS  # a profiler slows the runs several times
            async with _setup.executors(b, "embedded"):
                with _setup.profiled("p2-embedded", n):
                    results.append(("embedded, RUN_CONCURRENCY=64", await throughput(b, n)))
        results.append(
            ("floor: bare SDK loop, same emulator", await floor(b, N_RUNS_REDIS if redis else N_RUNS))
        )
        # A profiled run stops after the measurement: the diagnosis's timers would be in it.
        diag = [] if _setup.PROFILE_DIR else await diagnosis(b, redis)
    headers = list(results[0][1])
    print(f"\nP2 run throughput ({'PostgreSQL + Redis' if redis else 'embedded: SQLite, in-process'})")
    print(f"cpus: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.2f}")
    _setup.print_table(["executor", *headers], [[label, *r.values()] for label, r in results])
    floor_cpu = results[-1][1]["cpu ms/run (this)"]
    for label, r in results[:-1]:
        cpu = r["cpu ms/run (this)"] + r["cpu ms/run (workers)"]
        print(
            f"{label}: runs/s {r['runs/s'] / results[-1][1]['runs/s']:.2f} x the floor's, "
            f"CPU per run {cpu / floor_cpu:.2f} x the floor's"
        )
    print("target: >= 300 runs/s embedded, >= 200 PG+Redis; CPU per run <= 2 x the floor's")
    if not diag:
        return
    print("\nDiagnosis: phases of execute_run (ms; 'per run' = total time in the phase / runs)")
    _setup.print_table(["pass", "phase", "n", "mean", "p95", "per run"], diag)


async def diagnosis(b: _setup.Bench, redis: bool) -> list[list[object]]:
    """The phase timings, without and with the shared-SSL what-if."""
    install_phase_timers()
    shape = "inproc" if redis else "embedded"
    async with _setup.executors(b, shape, concurrency=32):
        diag = await diagnose(b, shape)
        _setup.share_ssl_context()
        diag += await diagnose(b, f"{shape} + shared SSL context")
    return diag


async def floor(b: _setup.Bench, n: int) -> dict[str, float]:
    """The same emulator answer streamed ``n`` times through one bare ``AsyncOpenAI`` client,
    ``STARTERS`` in flight: no platform, database or bus (the box's limit, this run)."""
    import openai

    client = openai.AsyncOpenAI(base_url=b.emulator.openai_base_url, api_key="bench", max_retries=0)
    gate = asyncio.Semaphore(STARTERS)
    texts: list[str] = []

    async def one() -> None:
        async with gate:
            stream = await client.chat.completions.create(
                model="bench-model", messages=[{"role": "user", "content": "ping"}], stream=True
            )
            texts.append("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))

    await asyncio.gather(*(one() for _ in range(STARTERS)))  # warm-up: connections, imports
    texts.clear()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await client.close()
    return {
        "runs": n,
        "succeeded": sum(bool(t) for t in texts),
        "starts/s": n / elapsed,
        "runs/s": n / elapsed,
        "seconds": elapsed,
        "cpu ms/run (this)": cpu / n * 1000,
        "cpu ms/run (workers)": 0.0,
    }


if __name__ == "__main__":
    args = _setup.parse_args(__doc__.splitlines()[0])
    _setup.configure(redis=args.redis, run_concurrency=64)
    if args.shared_ssl:  # what-if for the main measurement too (in-process executors only)
        _setup.share_ssl_context()
    asyncio.run(main(args.redis))
