"""The production server: gunicorn with GalaxyCo's uvicorn worker (infra/asgi_worker.py).

The server tests start the real thing (``python -m gunicorn`` with the options ``reflex run
--env prod`` gets, through ``server_signals.forwarding_signals`` as Reflex's launch runs
it) around a tiny ASGI app (tests/infra/asgi_probe.py).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gunicorn.config import Config
from websockets.sync.client import connect

from galaxyco_ui.config import PROJECT_ROOT
from galaxyco_ui.infra import asgi_worker, server_signals

STOP_LIMIT_SECONDS = 10.0


def _gunicorn_options(cmd_args: str) -> Config:
    """What gunicorn makes of Reflex's own options followed by ``cmd_args`` (as Reflex runs it)."""
    config = Config()
    reflex_defaults = ["--preload", "--worker-class", "uvicorn.workers.UvicornH11Worker", "--threads", "5"]
    parsed = config.parser().parse_args([*reflex_defaults, *shlex.split(cmd_args), "app:app"])
    for name, value in vars(parsed).items():
        if value is not None and name in config.settings:
            config.set(name.lower(), value)
    return config


def test_embedded_mode_is_one_process_of_galaxyco_worker() -> None:
    env: dict[str, str] = {"WEB_CONCURRENCY": "7"}
    server_signals.set_gunicorn_environment(env, scale_out=False)
    options = _gunicorn_options(env["GUNICORN_CMD_ARGS"])
    assert options.workers == 1  # the in-process queue and event bus: one process, whatever is set
    assert options.worker_class_str == "galaxyco_ui.infra.asgi_worker.GalaxyCoWorker"
    assert options.graceful_timeout < STOP_LIMIT_SECONDS


def test_scale_out_mode_runs_two_per_cpu_plus_one_unless_the_operator_says() -> None:
    env: dict[str, str] = {}
    server_signals.set_gunicorn_environment(env, scale_out=True)
    assert "--workers" not in env["GUNICORN_CMD_ARGS"]
    assert env["WEB_CONCURRENCY"] == str(min((os.cpu_count() or 1) * 2 + 1, asgi_worker.MAX_WORKERS))

    operator: dict[str, str] = {"WEB_CONCURRENCY": "3"}
    server_signals.set_gunicorn_environment(operator, scale_out=True)
    assert operator["WEB_CONCURRENCY"] == "3"


def test_operator_gunicorn_options_win_over_galaxyco_ones() -> None:
    env = {"GUNICORN_CMD_ARGS": "--graceful-timeout 2 --worker-class my.Worker --workers 4"}
    server_signals.set_gunicorn_environment(env, scale_out=False)
    options = _gunicorn_options(env["GUNICORN_CMD_ARGS"])
    assert (options.graceful_timeout, options.worker_class_str, options.workers) == (2, "my.Worker", 4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Reflex's launch as `reflex run --env prod` runs it: gunicorn, a child of this process,
# while this process forwards SIGTERM to it.
LAUNCHER = """
import os, subprocess, sys
from galaxyco_ui.infra import server_signals
server_signals.set_gunicorn_environment(os.environ, scale_out=False)
with server_signals.forwarding_signals():
    subprocess.run([sys.executable, "-m", "gunicorn", "--preload", "--bind", "127.0.0.1:{port}",
                    "--log-level", "warning", "tests.infra.asgi_probe:app"])
print("launcher: gunicorn exited", flush=True)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The probe app under the production server; yields (base URL, the launcher process)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LAUNCHER.format(port=port))],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/client", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.2)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def _session_alive(sid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                return True
    return False


def test_client_address_is_the_socket_peer_whatever_the_forwarded_headers_say(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = server
    response = httpx.get(
        f"{url}/client", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    # infra/client_address.py alone judges X-Forwarded-For (TRUSTED_PROXY_HOPS), as under granian.
    assert response.json() == {"client": "127.0.0.1", "scheme": "http"}
    assert "server" not in response.headers


def test_websocket_declines_per_message_deflate(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = server
    with connect(url.replace("http", "ws") + "/ws", compression="deflate") as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers  # ~100 KB of zlib state per tab
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"


def test_sigterm_stops_everything_within_10_s_with_a_websocket_and_a_stream_open(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, launcher = server
    with (
        connect(url.replace("http", "ws") + "/ws") as ws,
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{url}/stream") as stream,
    ):
        assert next(stream.iter_text()).startswith("data: first")
        ws.send("open")
        assert ws.recv(timeout=5) == "open"
        signalled = time.monotonic()
        launcher.send_signal(signal.SIGTERM)  # the launcher alone, as a process manager does
        while _session_alive(launcher.pid):
            assert time.monotonic() - signalled < STOP_LIMIT_SECONDS, "still running 10 s after SIGTERM"
            time.sleep(0.05)
    assert launcher.wait() == 0  # it waited for gunicorn, then exited on its own


def test_sigterm_before_the_server_starts_stops_the_launcher() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom galaxyco_ui.infra import server_signals\n"
         "with server_signals.forwarding_signals():\n    print('ready', flush=True); time.sleep(60)"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
    ) as launcher:  # fmt: skip
        assert launcher.stdout is not None
        assert launcher.stdout.readline() == b"ready\n"
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=STOP_LIMIT_SECONDS) == -signal.SIGTERM  # no child: the default action
