"""Shared benchmark setup: environment, scratch database, emulator, team + agent, executors.

Call ``configure()`` before anything imports ``galaxyco_ui`` (settings are read once).
Embedded mode: SQLite in a temp dir, in-process queue/bus/signals. ``--redis`` mode: a
scratch PostgreSQL database ``galaxyco_bench`` (created and dropped here) and Redis db 1
(flushed at start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galaxyco_ui.auth.permissions import TenantContext
    from galaxyco_ui.devtools.emulator import Emulator

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
BENCH_DB = "galaxyco_bench"
REDIS_URL = "redis://127.0.0.1:6379/1"
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(tempfile.mkdtemp(prefix="galaxyco-bench-"))


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--redis", action="store_true", help="PostgreSQL + Redis + SAQ workers")
    parser.add_argument(
        "--shared-ssl",
        action="store_true",
        help="what-if: OpenAI clients built in this process share one SSL context (see share_ssl_context)",
    )
    return parser.parse_args(argv)


def share_ssl_context() -> None:
    """What-if (bench-only patch, this process only): every OpenAI client reuses one SSL
    context instead of loading the CA bundle again (~30 ms of CPU per client, per run)."""
    import functools

    import httpcore2

    httpcore2.default_ssl_context = functools.lru_cache(maxsize=4)(httpcore2.default_ssl_context)


def configure(*, redis: bool, run_concurrency: int = 64) -> None:
    """Set the environment GalaxyCo reads. Must run before any ``galaxyco_ui`` import."""
    os.environ.update(
        GALAXYCO_ENV="test",
        DATA_DIR=str(DATA_DIR),
        SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789",
        DATABASE_URL=f"{PG_SERVER}/{BENCH_DB}" if redis else f"sqlite:///{DATA_DIR / 'bench.db'}",
        REDIS_URL=REDIS_URL if redis else "",
        USER_RUN_STARTS_PER_MINUTE="100000",
        WORKSPACE_MAX_CONCURRENT_RUNS="100000",
        WORKSPACE_MAX_RUN_STARTS_PER_MINUTE="100000",
        RUN_CONCURRENCY=str(run_concurrency),
    )
    for var in ("SENTRY_DSN", "SMTP_HOST"):
        os.environ.pop(var, None)


@dataclass
class Bench:
    """A migrated database with one team and one agent whose provider is the emulator."""

    ctx: TenantContext
    agent_id: str
    emulator: Emulator
    redis: bool


@contextlib.contextmanager
def bench(*, redis: bool, emulator: Emulator | None = None) -> Iterator[Bench]:
    """Fresh database (+ flushed Redis), running emulator, team, provider key and agent."""
    from alembic import command, config
    from galaxyco_ui.devtools.emulator import Emulator
    from galaxyco_ui.infra import db
    from galaxyco_ui.services.provider_keys import set_provider_key
    from tests.factories import make_agent, make_team

    if redis:
        import redis as redis_lib

        _admin(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}")
        redis_lib.Redis.from_url(REDIS_URL).flushdb()
    cfg = config.Config(toml_file=str(ROOT / "pyproject.toml"))
    command.upgrade(cfg, "head")  # reads DATABASE_URL through the app settings
    from galaxyco_ui.config import reset_settings

    emu = (emulator or Emulator()).start()
    # The emulator listens on 127.0.0.1: allowed as an operator allows a local Ollama
    # (worker subprocesses inherit the variable).
    os.environ["ALLOWED_PRIVATE_PROVIDER_HOSTS"] = emu.url.removeprefix("http://")
    reset_settings()
    try:
        team = make_team("Bench")
        set_provider_key(
            ctx=team.owner, provider="openai_compatible", api_key="bench", base_url=emu.openai_base_url
        )
        agent = make_agent(
            team.owner, provider="openai_compatible", model="bench-model", tools=[], max_steps=2
        )
        yield Bench(ctx=team.owner, agent_id=agent.id, emulator=emu, redis=redis)
    finally:
        emu.stop()
        db.set_engine(None)
        if redis:
            _admin(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        shutil.rmtree(DATA_DIR, ignore_errors=True)


def _admin(*statements: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(
        f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


# ---------------------------------------------------------------- executors


@contextlib.asynccontextmanager
async def executors(b: Bench, shape: str, *, workers: int = 1, concurrency: int = 32) -> AsyncIterator[None]:
    """Whatever executes runs: ``embedded`` (nothing to start), ``inproc`` SAQ worker in
    this event loop, or ``subprocess`` = ``workers`` x ``python -m galaxyco_ui.runs.worker``.
    Warms up (imports, connections) with a few runs before yielding."""
    procs: list[subprocess.Popen[bytes]] = []
    worker: Any = None
    task: asyncio.Task[None] | None = None
    if shape == "inproc":
        from galaxyco_ui.runs.worker import build_worker

        worker = build_worker(concurrency=concurrency, shutdown_grace_seconds=0)
        task = asyncio.create_task(worker.start())
    elif shape == "subprocess":
        procs = [_spawn_worker(i, concurrency) for i in range(workers)]
    try:
        await asyncio.wait_for(asyncio.gather(*(run_to_final(b) for _ in range(8 * max(1, workers)))), 60)
        yield
    finally:
        if worker is not None:
            await worker.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for proc in procs:  # SIGTERM drains a worker (up to its grace); the bench does not wait for it
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=2)  # then it is killed: the bench is over
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _spawn_worker(index: int, concurrency: int) -> subprocess.Popen[bytes]:
    """``python -m galaxyco_ui.runs.worker`` with this environment; logs under DATA_DIR."""
    log = (DATA_DIR / f"worker-{index}.log").open("ab")
    env = {**os.environ, "RUN_CONCURRENCY": str(concurrency)}
    return subprocess.Popen(
        [sys.executable, "-m", "galaxyco_ui.runs.worker"], cwd=ROOT, env=env, stdout=log, stderr=log
    )


def worker_pids_cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) used so far by processes ``pids`` (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def child_pids() -> list[int]:
    """Direct child processes of this one (the worker subprocesses)."""
    me = str(os.getpid())
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                pids.append(int(stat.parent.name))
    return pids


def descendants(root: int) -> list[int]:
    """``root`` and every living process below it (Linux /proc): a server's whole tree."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


# ---------------------------------------------------------------- runs and figures


async def run_to_final(b: Bench, text: str = "ping") -> tuple[str, list[tuple[float, Any]]]:
    """Start a run and follow its stream to ``final``; returns (run id, [(perf_counter, event)])."""
    from galaxyco_ui.services.runs import start_run

    view = await start_run(ctx=b.ctx, agent_id=b.agent_id, input=text)
    return view.id, await follow(view.id)


async def follow(run_id: str, within: float = 60.0) -> list[tuple[float, Any]]:
    """Read a run's stream from its start until the ``final`` event, stamping each receipt."""
    from galaxyco_ui.runs.events import get_event_bus, run_stream

    bus, stream, cursor = get_event_bus(), run_stream(run_id), None
    seen: list[tuple[float, Any]] = []
    async with asyncio.timeout(within):
        while True:
            events = await bus.read(stream, after=cursor, wait=5.0)
            now = time.perf_counter()
            seen.extend((now, e) for e in events)
            if events:
                cursor = events[-1].id
            if any(e.type == "final" for e in events):
                return seen


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


# ---------------------------------------------------------------- scratch names and profiles

# Several people may bench on one box: ``BENCH_PG_DB`` / ``BENCH_REDIS_URL`` give this bench a
# scratch database and Redis db of its own (read at import, before ``configure``).
BENCH_DB = os.environ.get("BENCH_PG_DB", BENCH_DB)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", REDIS_URL)
PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR", "")  # set: the measured part is profiled
PROFILER = os.environ.get("BENCH_PROFILER", "cprofile")  # or "py-spy" (path: BENCH_PY_SPY)


@contextlib.contextmanager
def profiled(label: str, runs: int) -> Iterator[None]:
    """Profile what runs inside when ``BENCH_PROFILE_DIR`` is set, else do nothing.

    ``cprofile``: CPU time (``time.thread_time``) of this process's event-loop thread (the
    runs' asyncio work, SDK parsing, publishing) and of the ``asyncio.to_thread`` threads
    (database calls), written as ``<label>.cprofile.txt``: the top functions by cumulative
    and by own CPU, in ms per run. Must be entered inside the running event loop. ``py-spy``: this process and its children (worker subprocesses), sampled 100
    times a second in whichever thread holds the GIL (the Python CPU; C work that released
    the GIL, such as SQLite's own, is not in it), written as collapsed stacks ``<label>.collapsed`` for
    ``bench.flame`` (tables per run, the CPU split per process and thread, an SVG).
    """
    if not PROFILE_DIR:
        yield
        return
    out = Path(PROFILE_DIR)
    out.mkdir(parents=True, exist_ok=True)
    if PROFILER == "py-spy":
        import signal

        spy = os.environ.get("BENCH_PY_SPY", "/tmp/pyspy/bin/py-spy")
        target = out / f"{label}.collapsed"
        proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(os.getpid()),
                "--threads",
                "--subprocesses",
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(target),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            (out / f"{label}.runs").write_text(f"{runs}\n")
        return
    import cProfile
    import pstats
    from concurrent.futures import ThreadPoolExecutor

    # CPU time, not wall time: each profile counts its own thread's CPU only.
    profiles = [cProfile.Profile(time.thread_time)]

    def profile_this_thread() -> None:
        profiles.append(cProfile.Profile(time.thread_time))
        profiles[-1].enable()

    # asyncio.to_thread's pool, replaced for the measurement by one whose threads profile
    # themselves (the database calls of start_run and of the executor run there).
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(min(32, (os.cpu_count() or 1) + 4), "asyncio", profile_this_thread)
    previous = loop._default_executor  # type: ignore[attr-defined]
    loop.set_default_executor(pool)
    profiles[0].enable()
    try:
        yield
    finally:
        profiles[0].disable()
        loop._default_executor = previous  # type: ignore[attr-defined]
        pool.shutdown(wait=True)
        stats = pstats.Stats(profiles[0])
        for other in profiles[1:]:
            stats.add(other)
        stats.dump_stats(out / f"{label}.pstats")  # for pstats / snakeviz; not kept in the repository
        text = cprofile_tables(stats, runs, label, threads=len(profiles) - 1)
        (out / f"{label}.cprofile.txt").write_text(text)


def cprofile_tables(stats: Any, runs: int, label: str, *, threads: int, top: int = 30) -> str:
    """The top ``top`` functions by cumulative and by own time, in ms per run."""
    rows = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        where = f"{Path(path).name}:{line}({name})" if line else name
        for marker in ("site-packages/", "galaxyco_ui/", "lib/python3."):
            if marker in path:
                where = f"{path.split(marker, 1)[1]}:{line}({name})"
                break
        rows.append((where, calls / runs, tottime * 1000 / runs, cumtime * 1000 / runs))
    lines = [
        f"cProfile (CPU time: time.thread_time), {label}: the event-loop thread + {threads} to_thread "
        f"worker threads, {runs} runs; ms of CPU and calls per run",
        "",
    ]
    for title, key in (("by cumulative time", 3), ("by own time (tottime)", 2)):
        lines += [title, f"{'cum ms':>8} {'own ms':>8} {'calls':>8}  function", "-" * 72]
        for where, calls, own, cum in sorted(rows, key=lambda r: r[key], reverse=True)[:top]:
            lines.append(f"{cum:8.2f} {own:8.2f} {calls:8.1f}  {where}")
        lines.append("")
    total_own = sum(r[2] for r in rows)
    lines.append(f"total CPU in the profiled threads: {total_own:.2f} ms per run")
    return "\n".join(lines) + "\n"


def settle(most_seconds: float = 30.0, quiet_share: float = 0.05) -> float:
    """Wait until this process tree is idle (under ``quiet_share`` of a core for 0.5 s);
    returns the seconds waited. A worker's start-up work runs on after its warm-up runs (its
    knowledge extraction pool spawns processes that import the app again, the knowledge
    index connects): measured, it would be counted as CPU per run."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < most_seconds:
        pids = descendants(os.getpid())[1:]
        before = _tree_cpu(pids)
        time.sleep(0.5)
        if _tree_cpu(pids) - before < quiet_share * 0.5:
            break
    return time.perf_counter() - t0


def _tree_cpu(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += worker_pids_cpu([pid])
    return total
