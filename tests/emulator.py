"""The provider emulator as fixtures: one server per test session, reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from galaxyco_ui.devtools.emulator import Emulator


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Iterator[Emulator]:
    """The session's emulator, with no queued scripts or recorded requests."""
    _emulator_server.reset()
    yield _emulator_server
    _emulator_server.reset()
