"""The provider emulator as fixtures: one server per test session, reset for each test.

The emulator listens on 127.0.0.1, which provider base URLs may not reach by default
(``tools.netguard``). The session server is allowed the way an operator allows a local
Ollama: its ``host:port`` goes into ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` (for this process
and, through the environment, for the e2e app server), not by loosening the rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.emulator import Emulator

ALLOW_VARIABLE = "ALLOWED_PRIVATE_PROVIDER_HOSTS"


def emulator_host_port(server: Emulator) -> str:
    """``127.0.0.1:<port>``: the entry that lets provider base URLs reach ``server``."""
    return server.url.removeprefix("http://")


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    with Emulator() as server:
        previous = os.environ.get(ALLOW_VARIABLE)
        entries = [e for e in (previous or "").split(",") if e.strip()]
        os.environ[ALLOW_VARIABLE] = ",".join([*entries, emulator_host_port(server)])
        reset_settings()
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop(ALLOW_VARIABLE, None)
            else:
                os.environ[ALLOW_VARIABLE] = previous
            reset_settings()


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
