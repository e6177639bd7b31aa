"""Test setup: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL) and, with
TEST_REDIS_URL, a real Redis. The schema comes from the Alembic migrations once per
session; every test starts from empty tables and an empty Redis database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_DATA_DIR = Path(tempfile.mkdtemp(prefix="galaxyco-test-"))
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")

# Before any galaxyco_ui import reads settings.
os.environ.update(
    GALAXYCO_ENV="test",
    DATA_DIR=str(_DATA_DIR),
    DATABASE_URL=TEST_DATABASE_URL or f"sqlite:///{_DATA_DIR / 'test.db'}",
    REDIS_URL=TEST_REDIS_URL,
    SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
    PUBLIC_URL="http://localhost:3000",
    KNOWLEDGE_OPTIMIZE_DELAY_SECONDS="0",
    # The discard port stands for "a local server that is down" (connection refused at
    # once); provider base URLs may point there only because it is listed, like any local
    # server. The emulator fixture (tests/emulator.py) adds its own port.
    ALLOWED_PRIVATE_PROVIDER_HOSTS="127.0.0.1:9",
)
for _var in ("SMTP_HOST", "SENTRY_DSN", "GOOGLE_CLIENT_ID", "GITHUB_CLIENT_ID", "OIDC_ISSUER"):
    os.environ.pop(_var, None)

from sqlalchemy import text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from galaxyco_ui.config import get_settings, reset_settings  # noqa: E402
from galaxyco_ui.infra import db  # noqa: E402
from galaxyco_ui.infra.ratelimit import reset_login_limiter, reset_sliding_window  # noqa: E402
from galaxyco_ui.jobs import reset_job_queue  # noqa: E402
from galaxyco_ui.runs.events import reset_event_bus  # noqa: E402
from galaxyco_ui.runs.signals import reset_cancel_signals  # noqa: E402

pytest_plugins = [
    "tests.factories",
    "tests.smtp_server",
    "tests.emulator",
    "tests.background",
    "tests.mcp_server",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser tests ``e2e`` and run them last.

    Playwright's sync API keeps an event loop running in the main thread until the
    session ends, which would break the asyncio tests that come after it.
    """
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


def run_migrations(url: str, revision: str = "head", *, down: bool = False) -> None:
    from alembic import command, config

    cfg = config.Config(toml_file=str(Path(__file__).resolve().parent.parent / "pyproject.toml"))
    cfg.attributes["database_url"] = url
    (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.fixture(scope="session", autouse=True)
def _database() -> Iterator[None]:
    reset_settings()
    url = get_settings().resolved_database_url
    engine = db.make_engine(url)
    if not url.startswith("sqlite"):
        with engine.begin() as conn:  # a clean schema, whatever an earlier run left
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    run_migrations(url)
    db.set_engine(engine)
    yield
    db.set_engine(None)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Empty every table and the Redis test database before each test."""
    engine = db.get_engine()
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    # DELETE in dependency order beats TRUNCATE on these small tables (~1 ms vs ~16 ms).
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))
    if TEST_REDIS_URL:
        import redis

        client = redis.Redis.from_url(TEST_REDIS_URL)
        client.flushdb()
        client.close()
    _reset_process_state()
    yield
    _reset_process_state()


def _reset_process_state() -> None:
    """Forget in-process limiters, event streams, signals and queues between tests."""
    reset_login_limiter()
    reset_sliding_window()
    reset_event_bus()
    reset_cancel_signals()
    reset_job_queue()
