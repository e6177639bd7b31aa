"""bench.idle_clients (P8): server memory per idle browser connected to /runs, up to 1,000 of them.

A real browser signs up and opens ``/runs`` once (Playwright + Debian's Chromium) while the
bench records the socket.io CONNECT packet it sends: Reflex 0.10 carries the page's
``hydrate_and_load`` event in it. Then N protocol-level clients replay that packet, each
over its own websocket with its own tab token and the browser's session cookies, exactly
as N tabs of that signed-in user would: each gets its own state tree on the server and
starts the page's live loop. Each client answers the server's pings and counts what it
receives; a client "fails" if it is not hydrated within the timeout or is disconnected
while idle.

Memory is the proportional set size (PSS, from ``/proc/<pid>/smaps_rollup``) of the app
server's whole process tree, read before any client connects and again after the N
clients have idled for ``--idle`` seconds (the median of readings every 2 s); per-client
memory is the difference over N. Reflex keeps a disconnected tab's state for an hour, so
later rounds start from a higher floor; each round is measured from its own.

    .venv/bin/python -m bench.idle_clients                    # 30, 300 and 1,000 clients
    .venv/bin/python -m bench.idle_clients --clients 100 --idle 20
    .venv/bin/python -m bench.idle_clients --url http://localhost:3000 --server-pid PID
    .venv/bin/python -m bench.idle_clients --clients 1000 --redis redis://127.0.0.1:6391/0
    .venv/bin/python -m bench.idle_clients --floor --clients 1000   # the server's own cost per websocket

Without ``--url`` it builds and starts the app itself (``reflex run --env prod
--single-port`` on a free port, a fresh SQLite database in a temp directory, the
embedded mode) from the repository root; ``--redis URL`` serves it in the scale-out mode
instead (Redis state manager and bus at URL, which is flushed; one server worker) and
also counts the Redis server's connections. The production build writes ``.web``: run it
under ``flock /tmp/e2e.lock`` (the e2e tests share it). ``--floor`` serves
``bench/_ws_floor.py`` (a bare websocket app, no Reflex) the same way (gunicorn with
GalaxyCo's uvicorn worker, ``--worker-class`` to compare another): what the server itself
holds per idle websocket. Measure one ``--clients`` size per server for figures: freed
memory (the rounds before, and the state of their tabs, kept an hour) is reused by later
rounds. Target: ≤ 150 KB per idle client and 1,000 idle clients on one app process
without errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import websockets

from bench._setup import descendants
from galaxyco_ui.infra import asgi_worker, server_signals

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
EVENT_PATH = "/_event/"
FLOOR_WORKER = f"{asgi_worker.GalaxyCoWorker.__module__}.{asgi_worker.GalaxyCoWorker.__name__}"


@dataclass
class Recording:
    connect_packet: str  # "40/_event,{...}": the hydrate event rides in it
    cookie_header: str


@dataclass
class Client:
    hydrated: asyncio.Event = field(default_factory=asyncio.Event)
    frames: int = 0
    bytes_in: int = 0
    disconnected: bool = False
    error: str = ""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[30, 300, 1000])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds the clients stay idle")
    parser.add_argument("--connect-rate", type=float, default=50.0, help="new clients per second")
    parser.add_argument("--hydrate-timeout", type=float, default=60.0)
    parser.add_argument("--page", default="/runs", help="the page the clients open (diagnostics)")
    parser.add_argument("--url", help="an app already running (else one is started)")
    parser.add_argument("--server-pid", type=int, help="with --url: the app server's root process")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="the scale-out mode: Redis state manager and bus at URL (flushed), one server worker",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="the floor: a bare websocket app (bench/_ws_floor.py) served as the app is",
    )
    parser.add_argument(
        "--worker-class",
        default=FLOOR_WORKER,
        help="with --floor: the gunicorn worker class serving it (to compare websocket implementations)",
    )
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def app_server(redis_url: str | None = None) -> Iterator[tuple[str, int]]:
    """Build and serve the app (a throwaway SQLite database; embedded, or with ``redis_url``
    the Redis state manager and bus, with one server worker); yield (url, pid)."""
    port = free_port()
    url = f"http://localhost:{port}"
    with tempfile.TemporaryDirectory(prefix="gx-idle-") as data:
        env = {
            **os.environ,
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "REFLEX_USE_NPM": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "PORT": str(port),
            "PUBLIC_URL": url,
            "DATABASE_URL": f"sqlite:///{data}/galaxyco.db",
            "UPLOADS_DIR": f"{data}/uploads",
            "LANCEDB_PATH": f"{data}/lancedb",
        }
        for name in ("REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL"):
            env.pop(name, None)
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            env.update(REDIS_URL=redis_url, WEB_CONCURRENCY="1")  # rxconfig would start 2 x CPUs + 1
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
        log = Path(data) / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(bin_dir / "reflex"), "run", "--env", "prod", "--single-port", "--loglevel", "warning"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the app exited early:\n{log.read_text()[-3000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{url}/login/", timeout=2).status_code == 200:
                            break
                    time.sleep(1)
                else:
                    raise RuntimeError("the app did not come up within 10 minutes")
                yield url, proc.pid
            finally:
                errors = [  # GalaxyCo's JSON lines, and gunicorn's own (a worker killed or lost)
                    line
                    for line in log.read_text().splitlines()
                    if any(mark in line for mark in ('"level": "ERROR"', "[ERROR]", "[CRITICAL]"))
                ]
                print(
                    f"server log: {len(errors)} ERROR lines"
                    + (f"; first: {errors[0][:300]}" if errors else "")
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@contextlib.contextmanager
def floor_server(worker_class: str = FLOOR_WORKER) -> Iterator[tuple[str, int]]:
    """Serve ``bench._ws_floor:app`` as the app is served (gunicorn, one ``worker_class``
    worker, GalaxyCo's gunicorn options); yield (url, pid)."""
    port = free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ}
    env.pop("GUNICORN_CMD_ARGS", None)
    server_signals.set_gunicorn_environment(env, scale_out=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--worker-class", worker_class,
         "--log-level", "warning", "bench._ws_floor:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the floor server did not start")
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def record(url: str, path: str = "/runs") -> Recording:
    """Sign up in a real browser, open ``path``, and keep the CONNECT packet and the cookies."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.e2e.helpers import sign_up, wait_for_shell

    sent: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(base_url=url)
        page = context.new_page()
        sign_up(page, name="Idle Ida", email=f"idle-{uuid.uuid4().hex[:8]}@example.com")
        wait_for_shell(page)
        page.on(
            "websocket",
            lambda ws: ws.on("framesent", lambda f: sent.append(f) if isinstance(f, str) else None),
        )
        page.goto(path)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)
        cookies = context.cookies()
        browser.close()
    connect = next(f for f in sent if f.startswith("40/_event,") and "hydrate" in f)
    host = urlsplit(url).hostname
    header = "; ".join(
        f"{c['name']}={c['value']}" for c in cookies if c.get("domain", "").lstrip(".") == host
    )
    return Recording(connect_packet=connect, cookie_header=header)


async def run_client(
    url: str, rec: Recording, client: Client, stop: asyncio.Event, *, origin: str | None = None
) -> None:
    parts = urlsplit(url)
    ws_url = f"ws://{parts.netloc}{EVENT_PATH}?token={uuid.uuid4()}&EIO=4&transport=websocket"
    try:
        async with websockets.connect(
            ws_url,
            additional_headers={"Cookie": rec.cookie_header, "Origin": origin or url},
            max_size=None,
            open_timeout=60,
            ping_interval=None,  # engine.io pings itself ("2" → "3")
        ) as ws:
            await ws.recv()  # "0{sid, pingInterval, ...}"
            await ws.send(rec.connect_packet)
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=1.0)
                except TimeoutError:
                    continue
                if not isinstance(message, str):
                    continue
                if message == "2":
                    await ws.send("3")
                    continue
                client.frames += 1
                client.bytes_in += len(message)
                if message.startswith("42/_event,") and '"is_hydrated_rx_state_":true' in message:
                    client.hydrated.set()
    except Exception as exc:  # a refused or dropped connection is what the bench counts
        client.error = f"{type(exc).__name__}: {exc}"[:200]
    if not stop.is_set():
        client.disconnected = True


def redis_clients(url: str | None) -> int:
    """Connections the Redis server at ``url`` has open now (0 without one)."""
    if not url:
        return 0
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("clients")["connected_clients"]) - 1  # not this one
    finally:
        client.close()


def tree_pss_kb(root_pid: int) -> int:
    """PSS of ``root_pid`` and every descendant, in KB."""
    total = 0
    for pid in descendants(root_pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


async def measure(url: str, pid: int, rec: Recording, n: int, args: argparse.Namespace) -> dict[str, object]:
    readings = []
    for _ in range(3):
        await asyncio.sleep(1)
        readings.append(tree_pss_kb(pid))
    before = statistics.median(readings)
    redis_before = redis_clients(args.redis)
    stop = asyncio.Event()
    clients = [Client() for _ in range(n)]
    tasks = []
    began = time.monotonic()
    for client in clients:
        tasks.append(asyncio.create_task(run_client(url, rec, client, stop)))
        await asyncio.sleep(1 / args.connect_rate)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.hydrate_timeout):
            await asyncio.gather(*(c.hydrated.wait() for c in clients))
    hydrated_after = time.monotonic() - began
    samples = []  # PSS moves as the allocator and the collector work: the median of the idle period
    idle_until = time.monotonic() + args.idle
    while time.monotonic() < idle_until:
        await asyncio.sleep(2)
        samples.append(tree_pss_kb(pid))
    after = statistics.median(samples)
    redis_idle = redis_clients(args.redis)
    hydrated = sum(c.hydrated.is_set() for c in clients)
    dropped = sum(c.disconnected for c in clients)
    stop.set()
    await asyncio.gather(*tasks)
    errors = sorted({c.error for c in clients if c.error})
    await asyncio.sleep(5)  # let the server notice the disconnects before the next round
    return {
        "clients": n,
        "hydrated": hydrated,
        "dropped": dropped,
        "all hydrated s": round(hydrated_after, 1),
        "PSS before MB": round(before / 1024, 1),
        "PSS after MB": round(after / 1024, 1),
        "KB per client": round((after - before) / n, 1),
        "load": round(os.getloadavg()[0], 1),
        "Redis connections idle (before)": f"{redis_idle} ({redis_before})" if args.redis else "-",
        "errors": "; ".join(errors)[:200] or "-",
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.url and not args.server_pid:
        raise SystemExit("--url needs --server-pid (the app server's root process) to read its memory")
    with contextlib.ExitStack() as stack:
        if args.floor:
            url, pid = stack.enter_context(floor_server(args.worker_class))
            rec = Recording(connect_packet="40/_event,{}", cookie_header="")
            print(f"the floor: bench/_ws_floor.py under gunicorn + {args.worker_class} at {url}")
        else:
            if args.url:
                url, pid = args.url, args.server_pid
            else:
                url, pid = stack.enter_context(app_server(args.redis))
            rec = record(url, args.page)
            print(f"recorded the {args.page} CONNECT packet ({len(rec.connect_packet)} bytes) at {url}")
        rows = [asyncio.run(measure(url, pid, rec, n, args)) for n in args.clients]
    print(f"load average {os.getloadavg()[0]:.1f}; idle {args.idle:.0f} s per round")
    headers = list(rows[0])
    print("  ".join(headers))
    for row in rows:
        print("  ".join(str(row[h]) for h in headers))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
