"""Fixtures local to the infra tests: no external service configured unless a test says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra import db
from galaxyco_ui.infra.redis import reset_redis

_CLEARED = ("REDIS_URL", "SENTRY_DSN", "SENTRY_ENVIRONMENT", "LOG_LEVEL") + tuple(
    f"SMTP_{name}" for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "FROM", "STARTTLS")
)


@pytest.fixture(autouse=True)
def infra_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Test settings with data under ``tmp_path`` and no Redis, Sentry or SMTP."""
    monkeypatch.setenv("GALAXYCO_ENV", "test")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    reset_redis()
    yield tmp_path
    reset_redis()
    reset_settings()


@pytest.fixture
def swap_engine() -> Iterator[Callable[[Engine], Engine]]:
    """Point the process-wide engine elsewhere for one test, then put the previous one back."""
    previous = db.get_engine()

    def swap(engine: Engine) -> Engine:
        db.set_engine(engine)
        return engine

    yield swap
    current = db.get_engine()
    db.set_engine(previous)
    if current is not previous:
        current.dispose()
