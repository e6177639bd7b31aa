"""Faults under load: 200 runs in flight on PostgreSQL + Redis + 2 workers, then break things.

    .venv/bin/python -m bench.faults                 # every scenario (~12 min)
    .venv/bin/python -m bench.faults --only redis    # one: baseline redis postgres kill3 sigterm only-worker

Never touches the machine's PostgreSQL (5432) or Redis (6379): it starts its own
throwaway PostgreSQL cluster (``initdb`` into a temp dir, port 5440, trust auth) and
``redis-server --port 6390 --save ""`` (no persistence: a restart loses every queued job
and event stream), and restarts only those. Each scenario starts workers
(``python -m galaxyco_ui.runs.worker``, RUN_CONCURRENCY 100 each) and an app process
(``bench/_faults_app.py``: the API with the app-side recovery sweep, served by granian),
then 200 runs whose emulator answer streams for ~20 s (20 words at 1 per second), waits
until every run has been taken (the one worker of ``only-worker``: until it runs 95),
and injects the fault:

- ``baseline``: none;
- ``redis``: stop Redis, start an empty one 2 s later;
- ``postgres``: ``pg_ctl restart -m fast``;
- ``kill3``: SIGKILL one worker, start a new one, three times in a row, 5 s apart;
- ``sigterm``: SIGTERM one worker (it drains: WORKER_SHUTDOWN_GRACE_SECONDS), then start a new one;
- ``only-worker``: one worker holding every run, SIGKILLed, nothing restarts it; a new
  worker starts only after the "no worker" check has fired (and stuck runs are counted).

For each it reports: runs lost (never terminal, 150 s after the fault), runs stuck
(non-terminal 30 s after the fault ended plus one run's length, not counting runs that
wait for a worker in ``only-worker`` before one starts), runs executed twice (a run whose
tag reached the emulator in more than one request, or with more than one model step),
the outcomes, and how long the app failed to serve (``/api/health/ready`` and
``GET /api/v1/runs`` both 200 again, polled every 0.2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT, REDIS_PORT, APP_PORT = 5440, 6390, 3319
DATABASE_URL = f"postgresql://postgres@127.0.0.1:{PG_PORT}/galaxyco_faults"
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
RUNS, WORDS, PACE = 200, 20, 1.0  # 200 runs of ~20 s each, 200 tokens/s in all
RUN_SECONDS = WORDS / PACE
SCRATCH = Path(tempfile.mkdtemp(prefix="galaxyco-faults-"))
TAG = re.compile(r'\\"tag\\": \\"([^\\"]+)\\"')


def configure() -> None:
    os.environ.update(
        GALAXYCO_ENV="test",
        DATA_DIR=str(SCRATCH / "data"),
        SECRET_KEY="faults-bench-secret-key-that-is-long-enough-0123456789",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        USER_RUN_STARTS_PER_MINUTE="100000",
        WORKSPACE_MAX_CONCURRENT_RUNS="100000",
        WORKSPACE_MAX_RUN_STARTS_PER_MINUTE="100000",
        API_MAX_REQUESTS_PER_MINUTE="100000",
        RUN_CONCURRENCY="100",
        READY_MAX_QUEUE_LAG_SECONDS="0",  # "serving" here means answering, not an empty queue
    )
    for var in ("SENTRY_DSN", "SMTP_HOST", "OTEL_EXPORTER_OTLP_ENDPOINT", "METRICS_TOKEN"):
        os.environ.pop(var, None)


# ---------------------------------------------------------------- the throwaway services


class Services:
    """A PostgreSQL cluster and a Redis of this bench's own, and the processes it runs."""

    def __init__(self) -> None:
        self.pgdata = SCRATCH / "pg" / "data"
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.app: subprocess.Popen[bytes] | None = None
        self._spawned = 0

    def start(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user owns the cluster
            SCRATCH.chmod(0o755)
            shutil.chown(self.pgdata.parent, "postgres")
        _pg_run(PG_BIN / "initdb", "-D", self.pgdata, "-U", "postgres", "-A", "trust", "--no-sync")
        self._pg("start")
        _run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "postgres", "galaxyco_faults")
        self.start_redis()

    def _pg(self, action: str, *extra: str) -> None:
        options = f"-p {PG_PORT} -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off"
        log = self.pgdata.parent / "pg.log"
        _pg_run(PG_BIN / "pg_ctl", "-D", self.pgdata, "-o", options, "-l", log, "-w", *extra, action)

    def restart_postgres(self) -> None:
        self._pg("restart", "-m", "fast")

    def start_redis(self) -> None:
        log = (SCRATCH / "redis.log").open("ab")
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=log,
        )
        _wait_for(lambda: _redis_ping(), 10, "redis did not start")

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)
            self.redis = None

    def spawn_worker(self) -> subprocess.Popen[bytes]:
        self._spawned += 1
        log = (SCRATCH / f"worker-{self._spawned}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "galaxyco_ui.runs.worker"],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=log,
        )
        self.workers.append(proc)
        return proc

    def start_app(self) -> None:
        log = (SCRATCH / "app.log").open("ab")
        command = ["-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(APP_PORT)]
        self.app = subprocess.Popen(
            [sys.executable, *command, "--workers", "1", "bench._faults_app:app"],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=log,
        )
        _wait_for(lambda: _get("/api/health/live") == 200, 120, "the app did not start")

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.workers.clear()

    def stop(self) -> None:
        self.stop_workers()
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            try:
                self.app.wait(15)
            except subprocess.TimeoutExpired:
                self.app.kill()
        self.stop_redis()
        subprocess.run(
            [*_as_postgres(), PG_BIN / "pg_ctl", "-D", self.pgdata, "-m", "immediate", "stop"],
            capture_output=True,
        )


def _run(*args: object) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_run(*args: object) -> None:
    _run(*_as_postgres(), *args)


def _redis_ping() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(what)
        time.sleep(0.1)


_api_key = ""


def _get(path: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{APP_PORT}{path}")
    if _api_key:
        request.add_header("Authorization", f"Bearer {_api_key}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


# ---------------------------------------------------------------- one scenario


@dataclass
class Outcome:
    name: str
    lost: int = 0
    stuck: int = 0
    twice: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    unavailable: float = 0.0
    notes: list[str] = field(default_factory=list)


class Monitor:
    """Polls the app every 0.2 s; the longest stretch it did not serve."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.longest = 0.0
        self._stop = False

    async def run(self) -> None:
        while not self._stop:
            ok = await asyncio.to_thread(
                lambda: _get("/api/health/ready") == 200 and _get("/api/v1/runs?limit=1") == 200
            )
            now = time.monotonic()
            if not ok and self.down_since is None:
                self.down_since = now
            elif ok and self.down_since is not None:
                self.longest = max(self.longest, now - self.down_since)
                self.down_since = None
            await asyncio.sleep(0.2)

    def stop(self) -> float:
        self._stop = True
        if self.down_since is not None:
            self.longest = max(self.longest, time.monotonic() - self.down_since)
        return self.longest


def _statuses(run_ids: list[str]) -> dict[str, tuple[str, str]]:
    from sqlmodel import col, select

    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import Run

    try:
        with session_scope() as session:
            rows = session.exec(select(Run.id, Run.status, Run.error).where(col(Run.id).in_(run_ids))).all()
    except Exception:  # the database is restarting
        return {}
    return {run_id: (status, error) for run_id, status, error in rows}


def _model_steps(run_ids: list[str]) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import col, select

    from galaxyco_ui.infra.db import session_scope
    from galaxyco_ui.models import RunStep

    with session_scope() as session:
        rows = session.exec(
            select(RunStep.run_id, func.count())
            .where(col(RunStep.run_id).in_(run_ids), RunStep.kind == "model")
            .group_by(RunStep.run_id)
        ).all()
    return dict(rows)


async def _settle(run_ids: list[str], until: float) -> dict[str, tuple[str, str]]:
    from galaxyco_ui.models.runs import TERMINAL_STATUSES

    while True:
        states = await asyncio.to_thread(_statuses, run_ids)
        if len(states) == len(run_ids) and all(s in TERMINAL_STATUSES for s, _ in states.values()):
            return states
        if time.monotonic() > until:
            return states
        await asyncio.sleep(0.5)


async def scenario(name: str, services: Services, bench: Any, emulator: Any) -> Outcome:
    from galaxyco_ui.models.runs import TERMINAL_STATUSES
    from galaxyco_ui.services import workers
    from galaxyco_ui.services.runs import start_run

    outcome = Outcome(name)
    count = 1 if name == "only-worker" else 2
    alive = [w for w in services.workers if w.poll() is None]
    for extra in alive[count:]:
        extra.terminate()
        await asyncio.to_thread(extra.wait, 60)
    services.workers = [w for w in services.workers if w.poll() is None]
    while len(services.workers) < count:
        services.spawn_worker()
    await _until_async(lambda: _presence_ok(workers), 120, "no worker came up")
    emulator.reset()
    script = {"steps": [{"text": "word " * WORDS}], "tokens_per_second": PACE}
    views = await asyncio.gather(
        *(
            start_run(
                ctx=bench.ctx,
                agent_id=bench.agent_id,
                input=json.dumps({"emulator": script, "tag": f"{name}-{i}"}),
            )
            for i in range(RUNS)
        )
    )
    run_ids = [v.id for v in views]
    tag_of = {v.id: f"{name}-{i}" for i, v in enumerate(views)}
    # Faults strike once every run has been taken (two workers), or the one worker is full.
    await _until_async(lambda: _taken(run_ids, count), 180, "the runs did not start")
    outcome.notes.append(f"{_running(run_ids)} running at the fault")
    monitor = Monitor()
    watching = asyncio.create_task(monitor.run())
    fault_began = time.monotonic()
    waiting_for_worker: set[str] = set()
    if name == "redis":
        services.stop_redis()
        await asyncio.sleep(2)
        services.start_redis()
    elif name == "postgres":
        await asyncio.to_thread(services.restart_postgres)
    elif name == "kill3":
        for _ in range(3):
            victim = next(w for w in services.workers if w.poll() is None)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            services.spawn_worker()
            await asyncio.sleep(5)
    elif name == "sigterm":
        victim = next(w for w in services.workers if w.poll() is None)
        victim.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.to_thread(victim.wait, 60)
        outcome.notes.append(f"the worker exited {time.monotonic() - signalled:.1f} s after SIGTERM")
        services.spawn_worker()
    elif name == "only-worker":
        victim = services.workers[-1]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()
        states = await asyncio.to_thread(_statuses, run_ids)
        held = [r for r, (s, _) in states.items() if s == "running"]
        waiting_for_worker = {r for r, (s, _) in states.items() if s == "queued"}
        await _settle(held, killed + 60)
        failed_after = time.monotonic() - killed
        still = [
            r
            for r, (s, _) in (await asyncio.to_thread(_statuses, held)).items()
            if s not in TERMINAL_STATUSES
        ]
        outcome.notes.append(
            f"{len(held)} running runs of the killed worker: all failed as worker lost by the app's sweep "
            f"after {failed_after:.1f} s"
            if not still
            else f"{len(still)} of {len(held)} running runs still not failed"
        )
        await _until_async(lambda: _presence_missing(workers), 120, "the no-worker check never fired")
        outcome.notes.append(
            f"the no-worker banner's check fired {time.monotonic() - killed:.1f} s after the kill; "
            f"{len(waiting_for_worker)} queued runs waited for a worker"
        )
        services.spawn_worker()
    fault_ended = time.monotonic()
    states = await _settle(run_ids, fault_ended + 30 + RUN_SECONDS)
    outcome.stuck = sum(1 for s, _ in states.values() if s not in TERMINAL_STATUSES) + (
        len(run_ids) - len(states)
    )
    states = await _settle(run_ids, fault_began + 150)
    outcome.lost = sum(1 for s, _ in states.values() if s not in TERMINAL_STATUSES) + (
        len(run_ids) - len(states)
    )
    outcome.unavailable = monitor.stop()
    await watching
    requests = collections.Counter(
        m.group(1) for r in emulator.requests if (m := TAG.search(json.dumps(r.body)))
    )
    steps = await asyncio.to_thread(_model_steps, run_ids)
    outcome.twice = sum(1 for r in run_ids if requests[tag_of[r]] > 1 or steps.get(r, 0) > 1)
    outcome.statuses = dict(collections.Counter(s for s, _ in states.values()))
    outcome.errors = dict(collections.Counter(_short(e) for s, e in states.values() if s == "failed"))
    return outcome


def _short(error: str) -> str:
    return re.sub(r" \(run [0-9a-f]+\)", "", error).split(".")[0][:60]


def _running(run_ids: list[str]) -> int:
    return sum(1 for s, _ in _statuses(run_ids).values() if s == "running")


def _taken(run_ids: list[str], workers: int) -> bool:
    statuses = [s for s, _ in _statuses(run_ids).values()]
    if workers == 1:
        return statuses.count("running") >= 95
    return len(statuses) == len(run_ids) and "queued" not in statuses


async def _presence_ok(workers: Any) -> bool:
    return not (await workers.worker_presence()).missing


async def _presence_missing(workers: Any) -> bool:
    return bool((await workers.worker_presence()).missing)


async def _until_async(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            if what:
                raise RuntimeError(what)
            return
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------- main


SCENARIOS = ["baseline", "redis", "postgres", "kill3", "sigterm", "only-worker"]


async def main_async(names: list[str]) -> list[Outcome]:
    global _api_key
    from alembic import command, config
    from bench._setup import Bench
    from galaxyco_ui.config import reset_settings
    from galaxyco_ui.devtools.emulator import Emulator
    from galaxyco_ui.services.api_keys import create_api_key
    from galaxyco_ui.services.provider_keys import set_provider_key
    from tests.factories import make_agent, make_team

    # Provider clients close their keep-alive connections as runs end: not worth a traceback each.
    socketserver.BaseServer.handle_error = lambda *_args: None  # type: ignore[method-assign]
    services = Services()
    services.start()
    emulator = Emulator().start()
    os.environ["ALLOWED_PRIVATE_PROVIDER_HOSTS"] = emulator.url.removeprefix("http://")
    reset_settings()
    outcomes: list[Outcome] = []
    try:
        command.upgrade(config.Config(toml_file=str(ROOT / "pyproject.toml")), "head")
        team = make_team("Faults")
        set_provider_key(
            ctx=team.owner, provider="openai_compatible", api_key="b", base_url=emulator.openai_base_url
        )
        agent = make_agent(
            team.owner, provider="openai_compatible", model="bench-model", tools=[], max_steps=2
        )
        _api_key = create_api_key(ctx=team.owner, name="faults", role="viewer")[1]
        bench = Bench(ctx=team.owner, agent_id=agent.id, emulator=emulator, redis=True)
        services.start_app()
        for name in names:
            print(f"scenario {name} ...", flush=True)
            outcome = await scenario(name, services, bench, emulator)
            outcomes.append(outcome)
            print(f"  {outcome}", flush=True)
    finally:
        services.stop()
        emulator.stop()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these scenarios")
    parser.add_argument("--keep", action="store_true", help=f"keep {SCRATCH} (logs)")
    options = parser.parse_args()
    configure()
    try:
        outcomes = asyncio.run(main_async(options.only or SCENARIOS))
    finally:
        if not options.keep:
            shutil.rmtree(SCRATCH, ignore_errors=True)
    print("\n| fault | lost | stuck > 30 s | executed twice | app not serving | outcomes | notes |")
    print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
        errors = "; ".join(f"{k}: {v}" for k, v in o.errors.items())
        print(
            f"| {o.name} | {o.lost} | {o.stuck} | {o.twice} | {o.unavailable:.1f} s | {statuses}"
            f"{' (' + errors + ')' if errors else ''} | {'; '.join(o.notes)} |"
        )


if __name__ == "__main__":
    main()
