"""The provider emulator as fixtures: one server per test session, reset for each test.

The emulator listens on 127.0.0.1, which provider base URLs may not reach by default
(``tools.netguard``). The session server is allowed the way an operator allows a local
Ollama: its ``host:port`` goes into ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` (for this process
and, through the environment, for the e2e app server), not by loosening the rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.emulator import Emulator

ALLOW_VARIABLE = "ALLOWED_PRIVATE_PROVIDER_HOSTS"


def emulator_host_port(server: Emulator) -> str:
    """``127.0.0.1:<port>``: the entry that lets provider base URLs reach ``server``."""
    return server.url.removeprefix("http://")


@contextmanager
def private_host_allowed(entry: str) -> Iterator[None]:
    """Add ``entry`` (``host:port``) to ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` for the block, as
    an operator would list a local server; the previous value is restored after it."""
    previous = os.environ.get(ALLOW_VARIABLE)
    entries = [e for e in (previous or "").split(",") if e.strip()]
    os.environ[ALLOW_VARIABLE] = ",".join([*entries, entry])
    reset_settings()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ALLOW_VARIABLE, None)
        else:
            os.environ[ALLOW_VARIABLE] = previous
        reset_settings()


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    with Emulator() as server, private_host_allowed(emulator_host_port(server)):
        yield server


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Iterator[Emulator]:
    """The session's emulator, with no queued scripts or recorded requests."""
    _emulator_server.reset()
    yield _emulator_server
    _emulator_server.reset()


@pytest.fixture
def allow_provider_hosts() -> Iterator[Callable[..., None]]:
    """Set ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` to the given entries for one test.

    Replaces the current value (the emulator's entry included); the settings are re-read
    now, and the value and settings are restored after the test.
    """
    previous = os.environ.get(ALLOW_VARIABLE)

    def allow(*entries: str) -> None:
        os.environ[ALLOW_VARIABLE] = ",".join(entries)
        reset_settings()

    yield allow
    if previous is None:
        os.environ.pop(ALLOW_VARIABLE, None)
    else:
        os.environ[ALLOW_VARIABLE] = previous
    reset_settings()
