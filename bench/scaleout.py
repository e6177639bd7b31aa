"""bench.scaleout: the scale-out shape (N app processes behind a sticky load balancer, M SAQ
workers, PostgreSQL, Redis) against one app process, in the same session.

    .venv/bin/python -m bench.scaleout                          # ~6 min: shapes 1, 2, 1 app process(es)
    .venv/bin/python -m bench.scaleout --apps 1,2 --runs 300 --p1-rounds 5
    .venv/bin/python -m bench.scaleout --only-footprint         # Redis stream + LanceDB figures only

What it starts (never the machine's own PostgreSQL or Redis): a throwaway PostgreSQL
cluster on port 5441 and ``redis-server`` on 6391 (``bench.faults.Services`` with these
ports), the provider emulator as its own process (``bench.peers``: the same answer as the
peers bench), ``--workers`` x ``python -m galaxyco_ui.runs.worker``, two app processes
(the Reflex app ``galaxyco_ui.galaxyco_ui:app`` served by granian with one worker each, as
``reflex run --env prod --backend-only`` serves it, with the Redis state manager because
``REDIS_URL`` is set; the compiled frontend is not served) on 3252 and 3253, and Debian's
nginx on 3251 in front of them:

- ``/_event/`` (the Reflex websocket) is sticky: ``hash $arg_token consistent``: a tab's
  token (in the websocket URL) always lands on the same app process, reconnects included;
- everything else (``/api/v1``, pages) is ``least_conn``: the API is stateless.

Each shape (1 or 2 app processes behind the same nginx; a reload switches them) gets:

- **P1 through the API**: ``--p1-rounds`` rounds of 20 runs started at once with
  ``POST /api/v1/agents/{id}/runs`` (``response_mode: streaming``); request sent → first
  event (``run.queued``) and → first text, client side;
- **P2 through the API**: ``--runs`` runs with ``--concurrency`` in flight, streamed
  (``bench.peers.load.drive``, as the peers bench drives GalaxyCo): completed runs/s,
  first text p50/p95, CPU seconds per 100 runs of the app processes + workers + nginx;
- the most PostgreSQL connections seen during P2 (``pg_stat_activity``, every 0.5 s).

The floor (``bench.peers.floor``: a bare ``AsyncOpenAI`` loop on the same emulator) runs
first and last, and each shape's figures are also given as ratios to the floor and to the
first one-process shape. Then the footprint of the data a workspace adds: ``MEMORY USAGE``
of the run streams just written (and their event count), and LanceDB per-workspace tables
(``KnowledgeIndex`` on a scratch directory: files, bytes and process memory per table of
``--chunks`` chunks with 384-dimensional vectors, after an optimize and one search each).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import _setup, faults
from bench.peers import load, systems
from bench.peers.__main__ import emulator_process, run_floor

ROOT = Path(__file__).resolve().parent.parent
PG_PORT, REDIS_PORT, LB_PORT, APP_PORTS = 5441, 6391, 3251, (3252, 3253)
DB_NAME = "galaxyco_scaleout"
P1_AT_ONCE = 20


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--apps", default="1,2,1", help="app processes per shape, in order")
    parser.add_argument("--workers", type=int, default=2, help="SAQ worker processes")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=32)
    parser.add_argument("--p1-rounds", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per LanceDB workspace table")
    parser.add_argument("--tables", default="1,10,30", help="LanceDB workspace tables, cumulative steps")
    parser.add_argument("--only-footprint", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- the shape's processes


NGINX_CONF = """
worker_processes 1;
pid {scratch}/nginx.pid;
error_log {scratch}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {scratch}/nginx-body;
    proxy_temp_path {scratch}/nginx-proxy;
    fastcgi_temp_path {scratch}/nginx-fastcgi;
    uwsgi_temp_path {scratch}/nginx-uwsgi;
    scgi_temp_path {scratch}/nginx-scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream galaxyco_events {{ hash $arg_token consistent; {servers} }}
    upstream galaxyco_http {{ least_conn; {servers} keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        add_header X-Upstream $upstream_addr always;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        location /_event/ {{
            proxy_pass http://galaxyco_events;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
        }}
        location / {{
            proxy_pass http://galaxyco_http;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 5m;
        }}
    }}
}}
"""


class Shape:
    """nginx, the app processes and the workers of one session."""

    def __init__(self, scratch: Path, services: faults.Services, emulator_url: str) -> None:
        self.scratch, self.services, self.emulator_url = scratch, services, emulator_url
        self.apps: list[subprocess.Popen[bytes]] = []
        self.nginx: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{LB_PORT}"

    def start_apps(self) -> None:
        env = systems.base_env(
            dict(os.environ),  # what _setup.configure and _setup.bench set
            GALAXYCO_ENV="production",
            PUBLIC_URL=self.base,
            API_MAX_REQUESTS_PER_MINUTE="1000000",
            LOG_LEVEL="WARNING",
            REFLEX_TELEMETRY_ENABLED="false",
            REFLEX_ENV_MODE="prod",
            __REFLEX_SKIP_COMPILE="true",  # never rewrite .web (the e2e tests share it)
            PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        )
        granian = str(ROOT / ".venv" / "bin" / "granian")
        for port in APP_PORTS:
            log = (self.scratch / f"app-{port}.log").open("ab")
            self.apps.append(
                subprocess.Popen(
                    [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1", "--log-level", "warning", "galaxyco_ui.galaxyco_ui:app"],
                    cwd=ROOT, env={**env, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # fmt: skip
        for port in APP_PORTS:
            _wait_http(f"http://127.0.0.1:{port}/api/health/live", 300, f"the app on {port}")

    def route(self, n_apps: int) -> None:
        """Point nginx at the first ``n_apps`` app processes (start it, or reload it)."""
        servers = " ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in APP_PORTS[:n_apps])
        conf = self.scratch / "nginx.conf"
        conf.write_text(NGINX_CONF.format(scratch=self.scratch, servers=servers, port=LB_PORT))
        if self.nginx is None:
            log = (self.scratch / "nginx.log").open("ab")
            self.nginx = subprocess.Popen(
                ["nginx", "-e", str(self.scratch / "nginx-error.log"), "-c", str(conf), "-g", "daemon off;"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        else:
            subprocess.run(["nginx", "-e", str(self.scratch / "nginx-error.log"), "-c", str(conf), "-s", "reload"],
                           check=True)  # fmt: skip
        time.sleep(1.5)  # the old nginx worker drains
        wanted = {f"127.0.0.1:{p}" for p in APP_PORTS[:n_apps]}
        seen = {_upstream("/api/health/live") for _ in range(4 * n_apps)}
        if seen != wanted:
            raise RuntimeError(f"nginx routes to {seen}, wanted {wanted}")

    def pids(self) -> list[int]:
        procs = [*self.apps, *self.services.workers, *([self.nginx] if self.nginx else [])]
        return [pid for p in procs for pid in _setup.descendants(p.pid)]

    def stop(self) -> None:
        for proc in [*self.apps, *([self.nginx] if self.nginx else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in [*self.apps, *([self.nginx] if self.nginx else [])]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


def _wait_http(url: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def _upstream(path: str, **params: str) -> str:
    response = httpx.get(f"http://127.0.0.1:{LB_PORT}{path}", params=params, timeout=10)
    return response.headers.get("x-upstream", "?")


def sticky_check(n_apps: int) -> str:
    """20 tab tokens at the websocket path: how they spread, and whether each one's second
    request lands where its first did."""
    tokens = [str(uuid.uuid4()) for _ in range(20)]
    first = [_upstream("/_event/", token=t, EIO="4", transport="websocket") for t in tokens]
    again = [_upstream("/_event/", token=t, EIO="4", transport="websocket") for t in tokens]
    spread = {u: first.count(u) for u in sorted(set(first))}
    same = sum(a == b for a, b in zip(first, again, strict=True))
    return f"{n_apps} app(s): 20 tokens spread {spread}, {same}/20 back on the same process"


# ---------------------------------------------------------------- the measures


async def p1_api(client: httpx.AsyncClient, base: str, agent_id: str, secret: str) -> dict[str, float]:
    """One run started through the API, streamed: ms to the first event and to the first text."""
    marks: dict[str, float] = {}
    t0 = time.perf_counter()
    async with client.stream(
        "POST",
        f"{base}/api/v1/agents/{agent_id}/runs",
        json={"input": load.PROMPT, "response_mode": "streaming"},
        headers={"Authorization": f"Bearer {secret}"},
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        async for line in response.aiter_lines():
            now = (time.perf_counter() - t0) * 1000
            if line.startswith("event: "):
                marks.setdefault("first event", now)
                if line[7:] == "text.delta":
                    marks.setdefault("first text", now)
                elif line[7:] == "run.finished":
                    marks["finished"] = now
    return marks


async def measure_shape(shape: Shape, galaxyco: systems.GalaxyCo, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    timeout = httpx.Timeout(systems.RUN_TIMEOUT, connect=10)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        await asyncio.gather(
            *(p1_api(client, shape.base, galaxyco.agent_id, galaxyco.secret) for _ in range(8))
        )
        p1: list[dict[str, float]] = []
        p1_load = os.getloadavg()[0]
        for _ in range(args.p1_rounds):
            p1 += await asyncio.gather(
                *(p1_api(client, shape.base, galaxyco.agent_id, galaxyco.secret) for _ in range(P1_AT_ONCE))
            )
            await asyncio.sleep(0.5)
        sampler = ConnectionSampler()
        sampler.start()
        try:
            result = await load.drive(
                lambda i: galaxyco.run(client, i),
                runs=args.runs,
                concurrency=args.concurrency,
                warmup=args.warmup,
                pids=shape.pids,
            )
        finally:
            connections = sampler.stop()
    first = [m["first event"] for m in p1 if "first event" in m]
    text = [m["first text"] for m in p1 if "first text" in m]
    return {
        "result": result,
        "p1 load": p1_load,
        "p1 n": len(first),
        "p1 first event p50": _setup.pct(first, 50),
        "p1 first event p95": _setup.pct(first, 95),
        "p1 first text p50": _setup.pct(text, 50),
        "p1 first text p95": _setup.pct(text, 95),
        "pg connections max": connections,
    }


class ConnectionSampler:
    """The most client connections to the bench database, read every 0.5 s in a thread."""

    def __init__(self) -> None:
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres", autocommit=True) as conn:
            while not self._stop.wait(0.5):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DB_NAME,)
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.most


# ---------------------------------------------------------------- what a workspace adds


def failed_runs(since: Any) -> dict[str, int]:
    """Runs that ended failed since ``since``, by error (what the load's "run failed" were)."""
    from sqlalchemy import func
    from sqlmodel import select

    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import Run

    with session_scope() as session:
        rows = session.exec(
            select(Run.error, func.count())
            .where(Run.status == "failed", Run.created_at >= since)
            .group_by(Run.error)
        ).all()
    return {str(error)[:80]: int(n) for error, n in rows}


def redis_stream_footprint() -> dict[str, Any]:
    """MEMORY USAGE of the run streams in Redis now (the runs just measured) and their sizes."""
    import redis

    client = redis.Redis.from_url(_setup.REDIS_URL)
    sizes, lengths, ttls = [], [], []
    for key in client.scan_iter(match="run:*:events", count=1000):
        usage = client.memory_usage(key, samples=0)
        if usage:
            sizes.append(int(usage))
            lengths.append(int(client.xlen(key)))
            ttls.append(int(client.ttl(key)))
    workspace = [
        (int(client.memory_usage(k, samples=0) or 0), int(client.xlen(k)), int(client.ttl(k)))
        for k in client.scan_iter(match="ws:*:runs")
    ]
    info = client.info("memory")
    client.close()
    return {
        "run streams": len(sizes),
        "bytes per run stream p50": statistics.median(sizes) if sizes else 0,
        "bytes per run stream max": max(sizes, default=0),
        "events per run stream p50": statistics.median(lengths) if lengths else 0,
        "ttl s p50": statistics.median(ttls) if ttls else 0,
        "workspace streams": len(workspace),
        "workspace stream bytes, entries, ttl s": max(workspace, default=(0, 0, 0)),
        "redis used_memory MB": round(int(info["used_memory"]) / 2**20, 1),
    }


def lancedb_footprint(scratch: Path, chunks: int, steps: Sequence[int]) -> list[dict[str, Any]]:
    """Workspace tables of ``chunks`` chunks each (384-d vectors), optimized and searched once:
    files, bytes on disk and this process's memory as the tables add up."""
    import numpy as np

    from galaxyco_ui.knowledge.index import KnowledgeIndex
    from galaxyco_ui.knowledge.types import ChunkRow

    rng = np.random.default_rng(12)
    words = [
        "invoice",
        "refund",
        "shipping",
        "contract",
        "renewal",
        "onboarding",
        "policy",
        "warranty",
        "latency",
        "region",
    ]

    def one_table(index: KnowledgeIndex) -> None:
        workspace, collection = uuid.uuid4().hex, uuid.uuid4().hex
        rows = [
            ChunkRow(
                item_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{workspace}{i // 20}").hex,
                collection_id=collection,
                ordinal=i % 20,
                text=" ".join(rng.choice(words, 120)),
                token_count=120,
            )
            for i in range(chunks)
        ]
        index.add_chunks(workspace, rows, rng.standard_normal((chunks, 384)).tolist(), embedding_model="m")
        index.optimize(workspace)
        index.search(workspace, "refund policy", collection_ids=None, query_vector=rng.standard_normal(384))

    one_table(KnowledgeIndex(scratch / "lancedb-warmup"))  # LanceDB's own start-up memory is not a table's
    root = scratch / "lancedb"
    index = KnowledgeIndex(root)
    rows_out: list[dict[str, Any]] = []
    made = 0
    rss0 = _rss_kb()
    for target in steps:
        while made < target:
            one_table(index)
            made += 1
        files = [p for p in root.rglob("*") if p.is_file()]
        rows_out.append(
            {
                "tables": made,
                "files": len(files),
                "files per table": round(len(files) / made, 1),
                "MB on disk": round(sum(p.stat().st_size for p in files) / 2**20, 1),
                "KB on disk per table": round(sum(p.stat().st_size for p in files) / 1024 / made),
                "RSS growth MB": round((_rss_kb() - rss0) / 1024, 1),
                "RSS KB per table": round((_rss_kb() - rss0) / made),
            }
        )
    return rows_out


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- the session


@contextlib.contextmanager
def services(scratch: Path) -> Iterator[faults.Services]:
    """PostgreSQL on 5441 and Redis on 6391, this bench's own (``bench.faults``' services
    with other ports, so the two benches can run side by side)."""
    faults.PG_PORT, faults.REDIS_PORT, faults.SCRATCH = PG_PORT, REDIS_PORT, scratch
    faults.REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
    svc = faults.Services()
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def floor_row(url: str, args: argparse.Namespace) -> load.Result:
    print("-- floor", flush=True)
    return run_floor(url, args)


def report(rows: list[tuple[str, dict[str, Any]]], floors: list[load.Result], sticky: list[str]) -> None:
    floor_rps = statistics.mean(f.runs_per_second for f in floors)
    floor_p50 = statistics.mean(f.first_token(50) for f in floors)
    first_one = next((r for name, r in rows if name.startswith("1 ")), rows[0][1])
    base_rps, base_p1 = first_one["result"].runs_per_second, first_one["p1 first event p50"]
    table = []
    for floor in floors[:1]:
        table.append(["floor (first)", f"{floor.load_before:.1f}", f"{floor.ok}/{floor.runs}",
                      round(floor.runs_per_second, 1), round(floor.first_token(50)), round(floor.first_token(95)),
                      round(floor.cpu_per_100, 1), "-", "-", "-", "-", "-", "-", "-"])  # fmt: skip
    for name, r in rows:
        res: load.Result = r["result"]
        table.append([
            name, f"{res.load_before:.1f}", f"{res.ok}/{res.runs}", round(res.runs_per_second, 1),
            round(res.first_token(50)), round(res.first_token(95)), round(res.cpu_per_100, 1),
            f"{r['p1 first event p50']:.0f}/{r['p1 first event p95']:.0f}",
            f"{r['p1 first text p50']:.0f}/{r['p1 first text p95']:.0f}", f"{r['p1 load']:.1f}",
            r["pg connections max"], f"{res.runs_per_second / floor_rps:.2f}",
            f"{res.runs_per_second / base_rps:.2f}", f"{r['p1 first event p50'] / base_p1:.2f}",
        ])  # fmt: skip
    for floor in floors[1:]:
        table.append(["floor (last)", f"{floor.load_before:.1f}", f"{floor.ok}/{floor.runs}",
                      round(floor.runs_per_second, 1), round(floor.first_token(50)), round(floor.first_token(95)),
                      round(floor.cpu_per_100, 1), "-", "-", "-", "-", "-", "-", "-"])  # fmt: skip
    _setup.print_table(
        ["shape", "load", "ok", "runs/s", "1st text p50 ms", "p95", "CPU s/100 runs", "P1 1st event p50/p95 ms",
         "P1 1st text p50/p95", "P1 load", "PG conns max", "runs/s ÷ floor", "runs/s ÷ 1 app", "P1 p50 ÷ 1 app"],
        table,
    )  # fmt: skip
    print(f"floor mean: {floor_rps:.1f} runs/s, first token p50 {floor_p50:.0f} ms")
    for line in sticky:
        print("sticky /_event/:", line)
    for name, r in rows:
        errors = r["result"].errors()
        if errors:
            print(f"{name} errors: {'; '.join(errors)[:300]}; failed runs by error: {r['failed']}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(OSError):
        faults.SCRATCH.rmdir()  # the empty directory bench.faults made when imported: ours is below
    scratch = Path(tempfile.mkdtemp(prefix="galaxyco-scaleout-"))
    try:
        if args.only_footprint:
            print(
                json.dumps(lancedb_footprint(scratch, args.chunks, [int(s) for s in args.tables.split(",")]))
            )
            return
        session(scratch, args)
    finally:
        if args.keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def session(scratch: Path, args: argparse.Namespace) -> None:
    (scratch / "logs").mkdir(parents=True)
    _setup.PG_SERVER, _setup.BENCH_DB = f"postgresql://postgres@127.0.0.1:{PG_PORT}", DB_NAME
    _setup.REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
    _setup.DATA_DIR = scratch / "data"
    _setup.DATA_DIR.mkdir()
    with services(scratch) as svc, emulator_process(scratch / "logs", None) as emulator_url:
        _setup.configure(redis=True, run_concurrency=64)
        os.environ.update(API_MAX_REQUESTS_PER_MINUTE="1000000", READY_MAX_QUEUE_LAG_SECONDS="0")
        from galaxyco_ui.models import utcnow  # after configure(): settings are read once
        from galaxyco_ui.services.api_keys import create_api_key

        with _setup.bench(redis=True, emulator=systems._ExternalEmulator(emulator_url)) as b:  # type: ignore[arg-type]
            _, secret = create_api_key(ctx=b.ctx, name="scaleout bench", role="admin")
            for _ in range(args.workers):
                svc.spawn_worker()
            shape = Shape(scratch, svc, emulator_url)
            try:
                t = time.perf_counter()
                shape.start_apps()
                print(f"-- {len(APP_PORTS)} app processes and {args.workers} workers up in "
                      f"{time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
                galaxyco = systems.GalaxyCo(emulator_url, LB_PORT, scratch / "logs")
                galaxyco.agent_id, galaxyco.secret = b.agent_id, secret
                floors = [floor_row(emulator_url, args)]
                rows: list[tuple[str, dict[str, Any]]] = []
                sticky = []
                for n in [int(a) for a in args.apps.split(",")]:
                    shape.route(n)
                    sticky.append(sticky_check(n))
                    name = f"{n} app{'s' if n > 1 else ''} + {args.workers} workers"
                    print(f"-- {name}", flush=True)
                    began = utcnow()
                    row = asyncio.run(measure_shape(shape, galaxyco, args))
                    row["failed"] = failed_runs(began)
                    res = row["result"]
                    print(f"   {res.ok}/{res.runs} ok, {res.runs_per_second:.1f} runs/s, P1 first event p50 "
                          f"{row['p1 first event p50']:.0f} ms, load {res.load_before:.1f}", flush=True)  # fmt: skip
                    rows.append((name, row))
                floors.append(floor_row(emulator_url, args))
                print()
                report(rows, floors, sticky)
                print("redis run streams:", json.dumps(redis_stream_footprint()))
            finally:
                shape.stop()
                svc.stop_workers()
    print(
        "lancedb:",
        json.dumps(lancedb_footprint(scratch, args.chunks, [int(s) for s in args.tables.split(",")])),
    )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
