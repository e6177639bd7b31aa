"""Peers side by side: GalaxyCo, n8n, Langflow (and Flowise) against one emulator, and the floor.

One emulator process (``bench.peers.emulator``: the same answer at the same pace for all)
serves every system. Each system is started alone, configured as one agent with one
OpenAI-compatible chat model at the emulator and no tools, warmed up, driven with
``--runs`` runs at ``--concurrency`` in flight through its own API, and stopped. GalaxyCo and
the floor run first and again last, so their ratios to the peers come from the same session.

    .venv/bin/python -m bench.peers                       # N=500, 32 in flight, GalaxyCo, n8n, Langflow
    .venv/bin/python -m bench.peers --runs 50 --systems floor,galaxyco,n8n

Peers are installed by ``bench/peers/install.sh`` under ``/work/peers`` (``PEERS_DIR``);
a system that is not installed is skipped with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import _setup
from bench.peers import load, peers, systems

SYSTEMS: dict[str, type[systems.System]] = {
    "galaxyco": systems.GalaxyCo,
    "n8n": peers.N8n,
    "langflow": peers.Langflow,
    "langflow-pg": peers.LangflowPostgres,
    "flowise": peers.Flowise,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process(logs: Path, tokens_per_second: float | None):  # type: ignore[no-untyped-def]
    port = free_port()
    command = [sys.executable, "-m", "bench.peers.emulator", "--port", str(port)]
    if tokens_per_second:
        command += ["--tokens-per-second", str(tokens_per_second)]
    log = (logs / "emulator.log").open("ab")
    proc = subprocess.Popen(
        command, cwd=systems.ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def run_floor(url: str, args: argparse.Namespace) -> load.Result:
    out = subprocess.run(
        [sys.executable, "-m", "bench.peers.floor", "--base-url", f"{url}/v1", "--runs", str(args.runs),
         "--concurrency", str(args.concurrency), "--warmup", str(args.warmup)],
        cwd=systems.ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return load.Result.from_json(json.loads(out.stdout.strip().splitlines()[-1]))


async def run_system(system: systems.System, args: argparse.Namespace) -> load.Result:
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
    )
    timeout = httpx.Timeout(systems.RUN_TIMEOUT, connect=10)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        return await load.drive(
            lambda i: system.run(client, i),
            runs=args.runs,
            concurrency=args.concurrency,
            warmup=args.warmup,
            pids=system.pids,
        )


def measure(name: str, url: str, logs: Path, args: argparse.Namespace) -> tuple[str, load.Result]:
    """(version, result) of one system, started and stopped here."""
    print(f"-- {name}: starting", flush=True)
    if name == "floor":
        import openai

        return f"openai {openai.__version__}, Python {sys.version.split()[0]}", run_floor(url, args)
    system = SYSTEMS[name](url, free_port(), logs)
    t = time.perf_counter()
    try:
        system.start()
        print(f"   up and configured in {time.perf_counter() - t:.0f} s; driving", flush=True)
        return system.version, asyncio.run(run_system(system, args))
    finally:
        system.stop()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def report(rows: list[tuple[str, str, load.Result]], args: argparse.Namespace, tps: str) -> None:
    def mean(name: str, figure: str) -> float:
        values = [_figure(r, figure) for n, _, r in rows if n == name and r.ok]
        return sum(values) / len(values) if values else float("nan")

    floor = {f: mean("floor", f) for f in ("runs/s", "p50", "cpu")}
    ours = {f: mean("galaxyco", f) for f in ("runs/s", "p50", "cpu")}
    print(
        f"\nPeers side by side: {args.runs} runs per system, {args.concurrency} in flight, emulator {tps}, "
        f"{os.cpu_count()} cores, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    )
    table = []
    for name, _, r in rows:
        table.append(
            [name, f"{r.load_before:.1f}", f"{r.ok}/{r.runs}", r.runs_per_second, r.first_token(50), r.first_token(95), r.cpu_per_100,
             ratio(r.runs_per_second, floor["runs/s"]), ratio(r.first_token(50), floor["p50"]),
             ratio(r.cpu_per_100, floor["cpu"]),
             ratio(ours["runs/s"], r.runs_per_second), ratio(ours["p50"], r.first_token(50)),
             ratio(ours["cpu"], r.cpu_per_100)]
        )  # fmt: skip
    _setup.print_table(
        ["system", "load", "ok", "runs/s", "1st token p50 ms", "p95 ms", "CPU s/100 runs",
         "runs/s ÷ floor", "p50 ÷ floor", "CPU ÷ floor", "GalaxyCo ÷ it: runs/s", "p50", "CPU"],
        table,
    )  # fmt: skip
    print(
        "(load: the box's 1-minute load average as the measured runs began; the floor and GalaxyCo\n"
        " ratios use the mean of their passes; CPU: the system's whole process tree, from /proc)"
    )
    print("\nversions:")
    for name, version in dict((n, v) for n, v, _ in rows).items():
        print(f"  {name}: {version}")
    for name, _, r in rows:
        if r.errors():
            print(f"\n{name}: {r.runs - r.ok} failed runs; distinct errors: {r.errors()[:5]}")


def _figure(r: load.Result, figure: str) -> float:
    return {"runs/s": r.runs_per_second, "p50": r.first_token(50), "cpu": r.cpu_per_100}[figure]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=32, help="unmeasured runs first, per system")
    parser.add_argument(
        "--systems",
        default="floor,galaxyco,n8n,langflow-pg",
        help="comma-separated, in order; also langflow (its default SQLite) and flowise (not configured yet)",
    )
    parser.add_argument(
        "--no-repeat", action="store_true", help="GalaxyCo and the floor once, not first and last"
    )
    parser.add_argument(
        "--tokens-per-second", type=float, default=None, help="emulator pace; default instant"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every started system is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    _setup.configure(redis=False)  # before anything reads GalaxyCo's settings
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    order = names if args.no_repeat else names + [n for n in reversed(names) if n in ("galaxyco", "floor")]
    logs = Path(tempfile.mkdtemp(prefix="galaxyco-peers-"))
    rows: list[tuple[str, str, load.Result]] = []
    tps = f"{args.tokens_per_second:g} tokens/s" if args.tokens_per_second else "instant"
    with emulator_process(logs, args.tokens_per_second) as url:
        for name in order:
            if name not in ("floor", "galaxyco") and not SYSTEMS[name].installed():
                print(f"-- {name}: not installed under {systems.PEERS} (bench/peers/install.sh); skipped")
                continue
            try:
                version, result = measure(name, url, logs, args)
            except Exception as exc:
                print(f"-- {name}: failed: {exc}; logs in {logs}", flush=True)
                continue
            print(
                f"   {result.ok}/{result.runs} ok, {result.runs_per_second:.1f} runs/s, first token p50 "
                f"{result.first_token(50):.0f} / p95 {result.first_token(95):.0f} ms, "
                f"{result.cpu_per_100:.1f} CPU s/100 runs (load {result.load_before:.1f})",
                flush=True,
            )
            rows.append((name, version, result))
    if rows:
        report(rows, args, tps)
    if args.json:
        args.json.write_text(json.dumps([{"system": n, "version": v, **r.as_json()} for n, v, r in rows]))
    print(f"\nlogs: {logs}")


if __name__ == "__main__":
    main()
