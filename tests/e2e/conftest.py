"""End-to-end fixtures: the production build served by `reflex run --env prod`, and Chromium.

The server runs in its own process against the same database (and Redis, when
TEST_REDIS_URL is set) as the test process, so tests can check what the UI did.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from galaxyco_ui.devtools.emulator import Emulator
from tests.emulator import emulator_host_port
from tests.mcp_server import LocalMcpServer
from tests.oauth_provider import OIDCProvider, oidc_provider

__all__ = ["oidc_provider"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = 420  # a cold production build with npm install on a 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Webhook receivers of the browser tests listen here; the app may reach it because the
# operator's variable lists it (tests/e2e/test_webhooks_ui.py).
WEBHOOK_RECEIVER_PORT = free_port()


@pytest.fixture(scope="session")
def app_url(
    oidc_provider: OIDCProvider, _emulator_server: Emulator, _mcp_server_session: LocalMcpServer
) -> Iterator[str]:
    """The production build, served with "Continue with Acme SSO" pointed at the test IdP.

    Provider base URLs may reach the session's emulator (on 127.0.0.1) because the
    operator's variable lists it, as for a local Ollama.
    """
    port = free_port()
    url = f"http://localhost:{port}"
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "REFLEX_USE_NPM": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PORT": str(port),
        "PUBLIC_URL": url,
        "GALAXYCO_ENV": "test",
        # The local MCP server of tests/mcp_server.py is listed the same way.
        "ALLOWED_PRIVATE_PROVIDER_HOSTS": f"{emulator_host_port(_emulator_server)},127.0.0.1:{WEBHOOK_RECEIVER_PORT},"
        f"{_mcp_server_session.host_port}",
        # Every browser test signs up from 127.0.0.1: one client address for the whole
        # suite, which would pass the default 10 sign-ups per address and hour.
        "SIGNUP_MAX_PER_IP_PER_HOUR": "500",
        "PROVIDER_REACHABILITY_CHECK_SECONDS": "2",  # Settings → Providers shows a fresh check soon
        # Scale-out mode: served by granian, as before gunicorn + uvicorn became the server
        # (1e18d0b). Under gunicorn's 5 uvicorn workers two browser tests once waited > 15 s
        # for a page's state to hydrate (clean-clone CI, 2026-12-01); not yet understood.
        **({"REFLEX_USE_GRANIAN": "true"} if os.environ.get("REDIS_URL") else {}),
        **oidc_provider.app_env(url, name="Acme SSO"),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "e2e-server.log"
    log = log_path.open("w")
    reflex = str(Path(sys.executable).parent / "reflex")
    proc = subprocess.Popen(
        [reflex, "run", "--env", "prod", "--single-port", "--loglevel", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    processes = [proc]
    logs = [log]
    if env.get("REDIS_URL"):  # scale-out mode: runs execute in a worker process
        worker_log = (ARTIFACTS / "e2e-worker.log").open("w")
        logs.append(worker_log)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "galaxyco_ui.runs.worker"],
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        _wait_until_up(url, proc, log_path)
        yield url
    finally:
        # The server alone gets SIGTERM, as from a process manager: it must stop its own
        # children (server workers, extraction processes) and exit.
        proc.send_signal(signal.SIGTERM)
        for process in processes[1:]:
            os.killpg(process.pid, signal.SIGTERM)
        hung = []
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                hung.append(process)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group
            process.wait()
        for handle in logs:
            handle.close()
        assert proc not in hung, "the app server did not exit within 20 s of SIGTERM"


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app server exited early:\n{log_path.read_text()[-4000:]}")
        try:
            with httpx.Client(timeout=2) as client:
                if (
                    client.get(f"{url}/api/health").status_code == 200
                    and client.get(f"{url}/login/").status_code == 200
                ):
                    return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"the app server did not start in {STARTUP_TIMEOUT} s:\n{log_path.read_text()[-4000:]}"
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Browser, app_url: str) -> Iterator:
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        ctx = browser.new_context(base_url=app_url, viewport={"width": 1280, "height": 860})
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_context) -> Page:  # type: ignore[no-untyped-def]
    return new_context().new_page()


def shot(page: Page, name: str) -> None:
    """Save a screenshot under test-artifacts/ (looked at by people, not asserted on)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
