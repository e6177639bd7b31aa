"""Start and stop the app server in a loop: does it always stop within 10 s of SIGTERM?

    .venv/bin/python -m bench.shutdown --loops 50            # backend only (fast starts)
    flock /tmp/e2e.lock .venv/bin/python -m bench.shutdown --full --loops 10   # `make run`'s command

Each loop starts ``reflex run --env prod --backend-only`` (through reflex's own ``_run``,
see ``BACKEND_ONLY``; ``--full``: ``reflex run --env prod --single-port``
with the frontend build, exactly what ``make run`` runs; it rebuilds ``.web``, which the
e2e tests share, hence the lock) in its own session on a spare port, embedded mode, a
scratch data directory. ``reflex`` serves through gunicorn, its child, with GalaxyCo's
uvicorn worker (``infra/asgi_worker.py``) and forwards the signal to it
(``infra/server_signals.py``). It sends SIGTERM to the ``reflex`` process at a random
moment: in a third of the loops 0 to 0.5 s after gunicorn has started (half of those:
while it imports the app, before its own handlers exist) or has forked its worker (the
other half), otherwise 0 to 2 s after ``/api/health/live`` answers.
The stop time runs from the signal until every process of the session is gone; a loop
whose processes outlive ``--limit`` seconds is a failure (they are then killed with
SIGKILL and a stack dump of the survivors is printed, py-spy permitting).

Prints: starts, stops, failures, and the stop time's p50 / p95 / max.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFLEX = ROOT / ".venv" / "bin" / "reflex"
# `reflex run --env prod --backend-only`, minus the CLI's argument merge, which refuses
# --backend-only when rxconfig sets frontend_port (ours does): the same supervisor path.
BACKEND_ONLY = """
import os
from reflex_base import constants
from reflex.environment import environment
from reflex.reflex import _run
environment.REFLEX_COMPILE_CONTEXT.set(constants.CompileContext.RUN)
environment.REFLEX_BACKEND_ONLY.set(True)
_run(env=constants.Env.PROD, running_mode=constants.RunningMode.BACKEND_ONLY, backend_port=int(os.environ["PORT"]))
"""


def _session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (the server and every child it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _live(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/live", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def one_loop(
    env: dict[str, str], port: int, *, full: bool, limit: float, log: Path
) -> tuple[float, float, bool]:
    """Start, signal, wait. Returns (seconds to ready or -1 if signalled before, stop seconds, ok)."""
    args = (
        [str(REFLEX), "run", "--env", "prod", "--single-port"]
        if full
        else [sys.executable, "-c", BACKEND_ONLY]
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        return _signal_and_wait(proc, port, log, limit)
    except BaseException:
        for pid in _session_pids(proc.pid):
            os.kill(pid, signal.SIGKILL)
        raise


def _started(proc: subprocess.Popen[bytes], began: float, log: Path) -> None:
    if proc.poll() is not None or time.monotonic() - began > 180:
        raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _signal_and_wait(
    proc: subprocess.Popen[bytes], port: int, log: Path, limit: float
) -> tuple[float, float, bool]:
    began = time.monotonic()
    ready = -1.0
    if random.random() < 1 / 3:  # reflex → gunicorn (importing the app) → its worker
        processes = random.choice((2, 3))
        while len(_session_pids(proc.pid)) < processes:
            _started(proc, began, log)
            time.sleep(0.005)
        time.sleep(random.uniform(0, 0.5))
        if _live(port):
            ready = time.monotonic() - began
    else:
        while not _live(port):
            _started(proc, began, log)
            time.sleep(0.05)
        ready = time.monotonic() - began
        time.sleep(random.uniform(0, 2))
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    while _session_pids(proc.pid) or proc.poll() is None:
        if time.monotonic() - signalled > limit:
            _report_stuck(proc.pid)
            for pid in _session_pids(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.wait()
            return ready, time.monotonic() - signalled, False
        time.sleep(0.02)
    return ready, time.monotonic() - signalled, True


def _report_stuck(sid: int) -> None:
    print(f"  stuck after SIGTERM: {_session_pids(sid)}", flush=True)
    if shutil.which("py-spy"):
        for pid in _session_pids(sid):
            subprocess.run(["py-spy", "dump", "--pid", str(pid)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--full", action="store_true", help="--single-port with the frontend, as `make run`")
    parser.add_argument("--port", type=int, default=3317)
    parser.add_argument("--limit", type=float, default=10.0, help="a stop slower than this fails")
    options = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="galaxyco-shutdown-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REFLEX_FRONTEND_PORT", "REFLEX_BACKEND_PORT")},
        "GALAXYCO_ENV": "development",
        "DATA_DIR": str(data),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "PORT": str(options.port),
        "PUBLIC_URL": f"http://localhost:{options.port}",
        "SECRET_KEY": "shutdown-bench-secret-key-that-is-long-enough-0123456789",
        "REFLEX_USE_NPM": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True
    )
    log = data / "server.log"
    stops: list[float] = []
    readies: list[float] = []
    failures = start_failures = 0
    try:
        for loop in range(1, options.loops + 1):
            try:
                ready, stop, ok = one_loop(env, options.port, full=options.full, limit=options.limit, log=log)
            except RuntimeError as error:  # it exited before serving: not a stop to time
                start_failures += 1
                print(f"loop {loop:3}: the server did not start ({str(error)[-300:]!r})", flush=True)
                continue
            stops.append(stop)
            failures += not ok
            if ready >= 0:
                readies.append(ready)
            when = "while starting" if ready < 0 else f"ready after {ready:.1f} s"
            print(
                f"loop {loop:3}: SIGTERM {when}: stopped in {stop:.2f} s{'' if ok else '  FAILED'}",
                flush=True,
            )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    stops.sort()
    if stops:
        p95 = stops[min(len(stops) - 1, round(0.95 * len(stops)) - 1)]
        print(
            f"\nmode {'full (make run)' if options.full else 'backend only'}: starts {len(stops) + start_failures} "
            f"({start_failures} exited before serving), stops {len(stops) - failures}, "
            f"failures (> {options.limit:g} s) {failures}; stop time p50 {statistics.median(stops):.2f} s, "
            f"p95 {p95:.2f} s, max {stops[-1]:.2f} s; "
            f"start to ready p50 {statistics.median(readies) if readies else float('nan'):.1f} s"
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
