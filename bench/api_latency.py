"""P7: /api/v1 latency on PostgreSQL with 1,000,000 runs across 100 workspaces.

Seeds a PostgreSQL database (``bench/_api_seed.py``: minutes, not tens of minutes), starts
the real app (granian, as ``reflex run --env prod`` serves the backend) on PostgreSQL + Redis with
one ``python -m galaxyco_ui.runs.worker`` and the provider emulator (each in its own
process), and measures over HTTP with httpx from this process:

1. list/get endpoints: a few thousand GETs (each endpoint equally often, a random
   workspace and its API key each time) from 1 and then 4 clients, after a warm-up
   that also walks every workspace's run pages to collect cursors at depths 1 to 10;
2. run start → first SSE byte: ``POST /api/v1/agents/{id}/runs`` with
   ``response_mode: streaming``, one at a time across random workspaces; time to the
   response headers, to the first body byte, to the first ``text.delta`` event and to the
   end of the stream.

Target: list/get p50 ≤ 10 ms and p95 ≤ 50 ms; start → first SSE byte p50 ≤ 15 ms.

    .venv/bin/python -m bench.api_latency                     # seed (~2 min), then measure
    .venv/bin/python -m bench.api_latency --reuse             # measure the seeded database again
    .venv/bin/python -m bench.api_latency --seed-only         # seed and stop

The database (``--database-url``, default ``bench_api``) is emptied and migrated unless
``--reuse``; its name must start with ``bench``. Redis db 5 (``--redis-url``) is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import _api_seed, _setup

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/bench_api"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
SECRET_KEY = "bench-api-latency-secret-key-0123456789abcdefghij"
STARTUP_TIMEOUT = 300  # five workers importing the app on a busy 2-core box
START_TIMEOUT = 30  # a streamed run of the emulator ends in well under a second
ENDPOINTS = (
    "agents",
    "runs",
    "runs failed+agent",
    "runs next page",
    "run",
    "run steps",
    "collections",
)
TARGET_P50, TARGET_P95, TARGET_SSE_P50 = 10.0, 50.0, 15.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--steps-fraction", type=float, default=0.1, help="share of runs that get steps")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--reuse", action="store_true", help="skip seeding: the database holds the data")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--requests", type=int, default=3500, help="measured GETs")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--concurrency",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[1, 4],
        help="clients in flight, one pass per comma-separated value (default 1,4)",
    )
    parser.add_argument("--starts", type=int, default=200, help="streaming run starts")
    parser.add_argument("--start-gap", type=float, default=0.05, help="seconds between two starts")
    parser.add_argument(
        "--app-workers",
        type=int,
        default=0,
        help="granian workers; 0: Reflex's default with Redis (2 x cores + 1)",
    )
    args = parser.parse_args()
    name = urlsplit(_api_seed.pg_url(args.database_url)).path.lstrip("/")
    if not name.startswith("bench"):
        parser.error(f"--database-url: the bench empties its database; {name!r} does not start with 'bench'")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def environment(args: argparse.Namespace, port: int, emulator_port: int, data_dir: Path) -> dict[str, str]:
    """What the app, the worker and this process read (set before any galaxyco_ui import)."""
    env = {
        "GALAXYCO_ENV": "production",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": _api_seed.pg_url(args.database_url),
        "REDIS_URL": args.redis_url,
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_PRIVATE_PROVIDER_HOSTS": f"127.0.0.1:{emulator_port}",
        # Caps that would refuse a benchmark's traffic (the bench spaces its starts anyway).
        "API_MAX_REQUESTS_PER_MINUTE": "1000000",
        "USER_RUN_STARTS_PER_MINUTE": "100000",
        "WORKSPACE_MAX_CONCURRENT_RUNS": "1000",
        "WORKSPACE_MAX_RUN_STARTS_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
        "REFLEX_TELEMETRY_ENABLED": "false",
        # What `reflex run --env prod --backend-only` would run; that command refuses this
        # app's rxconfig (it sets frontend_port), so granian is started the same way here.
        "REFLEX_ENV_MODE": "prod",
        "__REFLEX_SKIP_COMPILE": "true",  # Reflex's internal name: the app must not rewrite .web
        "GRANIAN_WORKERS": str(args.app_workers or min(2 * (os.cpu_count() or 1) + 1, 8)),
    }
    return env


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def processes(env: dict[str, str], port: int, emulator_port: int, data_dir: Path) -> Iterator[dict[str, int]]:
    """The emulator, one run worker and the app (granian), each in its own process group.
    Yields {name: process group id}."""
    full_env = {**os.environ, **env, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    for var in ("SENTRY_DSN", "SMTP_HOST"):
        full_env.pop(var, None)
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(name: str, command: list[str]) -> None:
        log = (data_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append((name, proc))

    granian = str(Path(sys.executable).parent / "granian")
    try:
        spawn(
            "emulator", [sys.executable, "-m", "galaxyco_ui.devtools.emulator", "--port", str(emulator_port)]
        )
        spawn("worker", [sys.executable, "-m", "galaxyco_ui.runs.worker"])
        spawn(
            "app",
            [
                granian,
                "--interface",
                "asgi",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                env["GRANIAN_WORKERS"],
                "--log-level",
                "warning",
                "galaxyco_ui.galaxyco_ui:app",
            ],
        )
        _wait_until_up(f"http://127.0.0.1:{port}/api/health", started, data_dir)
        yield {name: proc.pid for name, proc in started}
    finally:
        for _, proc in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(started):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # the worker ignores SIGTERM today (see README)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if name != "worker":
                    print(f"{name} did not stop within 15 s of SIGTERM and was killed")


def _wait_until_up(url: str, started: list[tuple[str, subprocess.Popen[bytes]]], data_dir: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        for name, proc in started:
            if proc.poll() is not None:
                log = (data_dir / f"{name}.log").read_text()[-3000:]
                raise SystemExit(f"{name} exited early:\n{log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"the app did not answer {url} within {STARTUP_TIMEOUT} s")


def point_providers_at_emulator(fixture: _api_seed.Fixture, emulator_port: int) -> None:
    """Each workspace's OpenAI-compatible provider → this run's emulator (the port changes)."""
    from galaxyco_ui.auth.permissions import Role, TenantContext
    from galaxyco_ui.services.provider_keys import set_provider_key

    for ws in fixture.workspaces:
        ctx = TenantContext(user_id=ws.owner_id, workspace_id=ws.id, role=Role.OWNER)
        set_provider_key(
            ctx=ctx,
            provider="openai_compatible",
            api_key="bench",
            base_url=f"http://127.0.0.1:{emulator_port}/v1",
        )


# ---------------------------------------------------------------- list/get latency


@dataclass
class Plan:
    fixture: _api_seed.Fixture
    cursors: dict[int, list[str]] = field(default_factory=dict)  # workspace index → cursors

    def request(self, kind: str, rng: random.Random) -> tuple[str, str, dict[str, str]]:
        """(secret, path, query) for one request of ``kind`` in a random workspace."""
        if kind in ("run", "run steps"):
            index, run_id = rng.choice(self.fixture.sample_runs)
            ws = self.fixture.workspaces[index]
            path = f"/api/v1/runs/{run_id}" + ("/steps" if kind == "run steps" else "")
            return ws.secret, path, {}
        if kind == "runs next page":
            index = rng.choice([i for i, c in self.cursors.items() if c])
            ws = self.fixture.workspaces[index]
            return ws.secret, "/api/v1/runs", {"limit": "50", "cursor": rng.choice(self.cursors[index])}
        ws = rng.choice(self.fixture.workspaces)
        if kind == "agents":
            return ws.secret, "/api/v1/agents", {}
        if kind == "runs":
            return ws.secret, "/api/v1/runs", {"limit": "50"}
        if kind == "runs failed+agent":
            query = {"limit": "50", "status": "failed", "agent_id": rng.choice(ws.agent_ids)}
            return ws.secret, "/api/v1/runs", query
        if kind == "collections":
            return ws.secret, "/api/v1/knowledge/collections", {}
        raise ValueError(kind)


async def collect_cursors(client: Any, plan: Plan, rng: random.Random, max_depth: int = 10) -> int:
    """Walk each workspace's runs from page 1 to a random depth ≤ ``max_depth``, keeping
    every ``next_cursor``: the "next page" requests continue from these. Returns requests."""
    sent = 0

    async def walk(ws: _api_seed.BenchWorkspace, depth: int) -> None:
        nonlocal sent
        cursor, found = "", []
        for _ in range(depth):
            params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
            response = await client.get("/api/v1/runs", params=params, headers=_auth(ws.secret))
            sent += 1
            response.raise_for_status()
            cursor = response.json().get("next_cursor") or ""
            if not cursor:
                break
            found.append(cursor)
        plan.cursors[ws.index] = found

    semaphore = asyncio.Semaphore(4)

    async def bounded(ws: _api_seed.BenchWorkspace) -> None:
        async with semaphore:
            await walk(ws, rng.randint(1, max_depth))

    await asyncio.gather(*(bounded(ws) for ws in plan.fixture.workspaces))
    return sent


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def measure_gets(
    client: Any, plan: Plan, *, requests: int, concurrency: int, rng: random.Random
) -> tuple[dict[str, list[float]], dict[str, dict[int, int]]]:
    """``requests`` GETs, each endpoint equally often in a shuffled order, ``concurrency``
    at a time. Returns milliseconds per endpoint and status-code counts per endpoint."""
    kinds = [ENDPOINTS[i % len(ENDPOINTS)] for i in range(requests)]
    rng.shuffle(kinds)
    jobs = [(kind, *plan.request(kind, rng)) for kind in kinds]
    times: dict[str, list[float]] = defaultdict(list)
    codes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    queue = iter(jobs)

    async def client_loop() -> None:
        for kind, secret, path, query in queue:
            t0 = time.perf_counter()
            response = await client.get(path, params=query, headers=_auth(secret))
            await response.aread()
            ms = (time.perf_counter() - t0) * 1000
            codes[kind][response.status_code] += 1
            if response.status_code == 200:
                times[kind].append(ms)

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return times, codes


# ---------------------------------------------------------------- start → first SSE byte


async def one_start(client: Any, ws: _api_seed.BenchWorkspace, n: int) -> dict[str, float]:
    body = {"input": f"Benchmark start {n}: say hello.", "response_mode": "streaming"}
    marks: dict[str, float] = {}
    buffer = b""
    t0 = time.perf_counter()
    async with (
        asyncio.timeout(START_TIMEOUT),
        client.stream(
            "POST", f"/api/v1/agents/{ws.stream_agent_id}/runs", json=body, headers=_auth(ws.secret)
        ) as response,
    ):
        marks["headers"] = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"start answered {response.status_code}: {response.text[:300]}")
        async for chunk in response.aiter_raw():
            now = (time.perf_counter() - t0) * 1000
            marks.setdefault("first byte", now)
            if "first text.delta" not in marks:
                buffer += chunk
                if b"event: text.delta" in buffer:
                    marks["first text.delta"] = now
        marks["stream end"] = (time.perf_counter() - t0) * 1000
    return marks


async def measure_starts(
    client: Any, fixture: _api_seed.Fixture, *, starts: int, gap: float, rng: random.Random
) -> list[dict[str, float]]:
    samples = []
    for n in range(starts):
        samples.append(await one_start(client, rng.choice(fixture.workspaces), n))
        await asyncio.sleep(gap)
    return samples


# ---------------------------------------------------------------- CPU per request


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids``; processes that ended count 0."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _setup.worker_pids_cpu([pid])
    return total


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(int(stat.parent.name))
    return pids


def cpu_snapshot(groups: dict[str, int], database_url: str) -> dict[str, float]:
    """CPU seconds so far of each started process group, of PostgreSQL's backends connected
    to the bench database (other databases' backends are not counted) and of this process."""
    snapshot = {name: _cpu_of(_group_pids(pgid)) for name, pgid in groups.items()}
    with _api_seed.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    snapshot["postgres"] = _cpu_of([pid for (pid,) in rows])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot["bench client"] = usage.ru_utime + usage.ru_stime
    return snapshot


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> str:
    parts = [f"{name} {(after[name] - before.get(name, 0.0)) * 1000 / requests:.1f}" for name in after]
    return "CPU ms per request: " + ", ".join(parts)


# ---------------------------------------------------------------- main


async def measure(
    args: argparse.Namespace, fixture: _api_seed.Fixture, port: int, groups: dict[str, int]
) -> None:
    import httpx

    rng = random.Random(7)
    most = max(args.concurrency)
    limits = httpx.Limits(max_connections=most + 4, max_keepalive_connections=most + 4)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
        plan = Plan(fixture)
        t = time.perf_counter()
        walked = await collect_cursors(client, plan, rng)
        await measure_gets(client, plan, requests=args.warmup, concurrency=most, rng=rng)
        print(f"warm-up: {walked} page walks + {args.warmup} GETs in {time.perf_counter() - t:.1f} s")
        for concurrency in args.concurrency:
            await gets_pass(args, fixture, client, plan, groups, concurrency, rng)

        # A few unmeasured starts first: the worker's first runs pay for imports and connections.
        for n in range(5):
            await one_start(client, rng.choice(fixture.workspaces), -n)
        load = os.getloadavg()[0]
        cpu0 = cpu_snapshot(groups, args.database_url)
        starts = await measure_starts(client, fixture, starts=args.starts, gap=args.start_gap, rng=rng)
        start_cpu = cpu_per_request(cpu0, cpu_snapshot(groups, args.database_url), max(1, len(starts)))
    print(
        f"\nrun start → SSE: {len(starts)} streaming starts, one at a time, "
        f"{args.start_gap * 1000:.0f} ms apart (load average {load:.1f} before)"
    )
    rows = []
    for metric in ("headers", "first byte", "first text.delta", "stream end"):
        values = [s[metric] for s in starts if metric in s]
        rows.append([metric, len(values), *_percentiles(values)])
    _setup.print_table(["from POST to", "n", "p50", "p95", "p99", "max"], rows)
    print(start_cpu)
    print(f"target: first SSE byte p50 <= {TARGET_SSE_P50:.0f} ms")


async def gets_pass(
    args: argparse.Namespace,
    fixture: _api_seed.Fixture,
    client: Any,
    plan: Plan,
    groups: dict[str, int],
    concurrency: int,
    rng: random.Random,
) -> None:
    """One measured pass of ``--requests`` GETs at ``concurrency``, printed as a table."""
    load = os.getloadavg()[0]
    cpu0 = cpu_snapshot(groups, args.database_url)
    t = time.perf_counter()
    times, codes = await measure_gets(client, plan, requests=args.requests, concurrency=concurrency, rng=rng)
    elapsed = time.perf_counter() - t
    cpu = cpu_per_request(cpu0, cpu_snapshot(groups, args.database_url), args.requests)
    print(
        f"\nP7 list/get latency, ms as seen by an httpx client on the same box: {concurrency} "
        f"client(s), {args.requests / elapsed:.0f} requests/s, {os.cpu_count()} cores (load average "
        f"{load:.1f} before), {args.app_workers_used} app workers, {fixture.total_runs:,} runs in "
        f"{len(fixture.workspaces)} workspaces"
    )
    rows: list[list[object]] = []
    everything: list[float] = []
    for kind in ENDPOINTS:
        values = times.get(kind, [])
        everything += values
        errors = sum(n for code, n in codes[kind].items() if code != 200)
        rows.append([kind, len(values), errors, *_percentiles(values)])
    rows.append(["all list/get", len(everything), "", *_percentiles(everything)])
    _setup.print_table(["endpoint", "n", "non-200", "p50", "p95", "p99", "max"], rows)
    bad = {kind: dict(c) for kind, c in codes.items() if set(c) - {200}}
    if bad:
        print(f"status codes other than 200: {bad}")
    print(cpu)
    print(f"target: p50 <= {TARGET_P50:.0f} ms and p95 <= {TARGET_P95:.0f} ms per endpoint", flush=True)


def _percentiles(values: list[float]) -> list[float]:
    if not values:
        return [float("nan")] * 4
    return [_setup.pct(values, 50), _setup.pct(values, 95), _setup.pct(values, 99), max(values)]


def main() -> None:
    args = parse_args()
    port, emulator_port = free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="galaxyco-bench-api-"))
    env = environment(args, port, emulator_port, data_dir)
    os.environ.update(env)
    if not args.reuse:
        t = time.perf_counter()
        print(f"seeding {args.runs:,} runs across {args.workspaces} workspaces into {args.database_url}")
        _api_seed.reset_database(args.database_url)
        timings = _api_seed.seed(
            args.database_url, runs=args.runs, workspaces=args.workspaces, steps_fraction=args.steps_fraction
        )
        for phase, seconds in timings.items():
            print(f"  {phase}: {seconds:.1f} s")
        print(f"seeded in {time.perf_counter() - t:.0f} s")
    if args.seed_only:
        return
    _api_seed.migrate(args.database_url)  # the schema may have moved on since the seeding
    fixture = _api_seed.load(args.database_url)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    point_providers_at_emulator(fixture, emulator_port)
    args.app_workers_used = env["GRANIAN_WORKERS"]
    try:
        with processes(env, port, emulator_port, data_dir) as groups:
            asyncio.run(measure(args, fixture, port, groups))
    except BaseException:
        print(f"the app's, the worker's and the emulator's logs are in {data_dir}")
        raise
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
