"""Starting each system, pointing it at the emulator, and one run through its own API.

Every system is a ``System``: ``start()`` launches its server in a new session (so the
whole tree can be stopped and its CPU read), configures the equivalent of one GalaxyCo
agent (one OpenAI-compatible chat model at the emulator, no tools) through the system's
own API or CLI, and returns when a run can be sent; ``run(client, i)`` sends run ``i`` and
follows its streamed answer; ``stop()`` ends the tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx

from bench._setup import descendants
from bench.peers import load

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PEERS_DIR", "/work/peers"))
# The environment as this process found it: peers get it without the variables the GalaxyCo
# setup adds (DATABASE_URL, SECRET_KEY, DATA_DIR, ... mean things to other systems too).
INHERITED_ENV = dict(os.environ)
STARTUP_TIMEOUT = 600.0  # Langflow took 2.5 min to start on the loaded box
RUN_TIMEOUT = 60.0


class System:
    name = ""
    version = ""

    def __init__(self, emulator_url: str, port: int, logs: Path) -> None:
        self.emulator_url = emulator_url  # http://127.0.0.1:PORT (no /v1)
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.logs = logs
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle

    @classmethod
    def installed(cls) -> bool:
        return True

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # what is left of the group, leader or not
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def spawn(self, command: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> None:
        log = (self.logs / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            list(command),
            cwd=cwd or ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, url: str, *, ok: Sequence[int] = (200,)) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = (self.logs / f"{self.name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} exited early:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code in ok:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer {url} within {STARTUP_TIMEOUT:.0f} s")

    # -- one run

    async def run(self, client: httpx.AsyncClient, i: int) -> load.Sample:
        raise NotImplementedError


def base_env(inherit: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    source = INHERITED_ENV if inherit is None else inherit
    env = {k: v for k, v in source.items() if k not in ("SENTRY_DSN", "SMTP_HOST")}
    env.update(DO_NOT_TRACK="true", **extra)
    return env


# What a line of a system's streamed answer says: a piece of the answer, the end, or an error.
Step = tuple[Literal["text", "end", "error"], str]


async def streamed_run(
    client: httpx.AsyncClient,
    url: str,
    read: Callable[[str], Step | None],
    *,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> load.Sample:
    """POST ``body`` to ``url`` and follow the streamed answer line by line through ``read``."""
    t0 = time.perf_counter()
    first, text, ended = None, [], False
    async with client.stream("POST", url, json=body, headers=headers, params=params) as response:
        if response.status_code != 200:
            await response.aread()
            return load.Sample(None, False, f"HTTP {response.status_code}: {response.text[:160]}")
        async for line in response.aiter_lines():
            step = read(line) if line.strip() else None
            if step is None:
                continue
            kind, value = step
            if kind == "text" and value:
                first = first if first is not None else time.perf_counter()
                text.append(value)
            elif kind == "error":
                return load.Sample(None, False, value[:160])
            elif kind == "end":
                ended = True
    return load.Sample.of(t0, first, "".join(text), "" if ended else "the stream ended without its end")


def checked(response: httpx.Response) -> Any:
    """The JSON of a 2xx response; otherwise an error that shows the body."""
    if response.is_error:
        raise RuntimeError(
            f"{response.request.method} {response.url} answered {response.status_code}: {response.text[:500]}"
        )
    return response.json()


# ---------------------------------------------------------------- GalaxyCo


class GalaxyCo(System):
    """``POST /api/v1/agents/{id}/runs`` with ``response_mode: streaming`` on the app served
    as ``make run`` serves it embedded (SQLite, in-process queue and bus, one process),
    backend only: granian, as Reflex's production mode starts it."""

    name = "galaxyco"

    def start(self) -> None:
        from bench import _setup

        _setup.configure(redis=False)
        _setup.DATA_DIR.mkdir(parents=True, exist_ok=True)
        self._bench = _setup.bench(redis=False, emulator=_ExternalEmulator(self.emulator_url))  # type: ignore[arg-type]
        b = self._bench.__enter__()
        from galaxyco_ui.services.api_keys import create_api_key

        _, self.secret = create_api_key(ctx=b.ctx, name="peers bench", role="admin")
        self.agent_id = b.agent_id
        self.version = _git_version()
        env = base_env(
            dict(os.environ),  # with what _setup.configure set
            GALAXYCO_ENV="production",
            PORT=str(self.port),
            PUBLIC_URL=self.base,
            API_MAX_REQUESTS_PER_MINUTE="1000000",
            WORKSPACE_MAX_RUN_STARTS_PER_MINUTE="1000000",  # 500 runs in one workspace within a minute
            LOG_LEVEL="WARNING",
            REFLEX_TELEMETRY_ENABLED="false",
            REFLEX_ENV_MODE="prod",
            __REFLEX_SKIP_COMPILE="true",  # the app must not rewrite .web (e2e tests share it)
            PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        )
        granian = str(ROOT / ".venv" / "bin" / "granian")
        self.spawn(
            [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--log-level", "warning", "galaxyco_ui.galaxyco_ui:app"],
            env,
        )  # fmt: skip
        self.wait_until(f"{self.base}/api/health")

    def stop(self) -> None:
        super().stop()
        bench = getattr(self, "_bench", None)
        if bench is not None:
            bench.__exit__(None, None, None)
            self._bench = None

    async def run(self, client: httpx.AsyncClient, i: int) -> load.Sample:
        event = ""

        def read(line: str) -> Step | None:  # server-sent events: "event: x" then "data: {...}"
            nonlocal event
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "text.delta":
                return "text", json.loads(line[6:])["text"]
            elif line.startswith("data: ") and event == "run.finished":
                status = json.loads(line[6:])["status"]
                return ("end", "") if status == "succeeded" else ("error", f"run {status}")
            return None

        return await streamed_run(
            client,
            f"{self.base}/api/v1/agents/{self.agent_id}/runs",
            read,
            body={"input": load.PROMPT, "response_mode": "streaming"},
            headers={"Authorization": f"Bearer {self.secret}"},
        )


class _ExternalEmulator:
    """What ``bench._setup.bench`` needs of an emulator, for one running in its own process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.openai_base_url = f"{url}/v1"

    def start(self) -> _ExternalEmulator:
        return self

    def stop(self) -> None:
        """The driver owns the emulator process."""


def _git_version() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "galaxyco_ui"], cwd=ROOT, capture_output=True, text=True
    )
    return f"commit {out.stdout.strip()}" + (
        " + uncommitted changes in galaxyco_ui/" if dirty.stdout.strip() else ""
    )
