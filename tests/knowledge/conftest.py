"""Knowledge tests reuse the run engine's fixtures (an agent wired to the emulator)."""

from tests.runs.conftest import wired

__all__ = ["wired"]
