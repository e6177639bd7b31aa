"""Stand-ins for ``extract.extract_chunks`` that run in the extraction processes.

A test swaps one in with ``monkeypatch.setattr(extract, "extract_chunks", ...)``; ingestion
pickles the function by name, so the pool process imports it from here (light imports
only: every new pool process loads this module).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from galaxyco_ui.knowledge import extract


def hang(*args: Any, **kwargs: Any) -> extract.Extracted:
    """A parser stuck on a hostile document: never returns."""
    while True:
        time.sleep(60)


def slow(*args: Any, **kwargs: Any) -> extract.Extracted:
    """A parser that needs a few seconds, then reads the document normally."""
    time.sleep(float(os.environ.get("GALAXYCO_TEST_SLOW_PARSE_SECONDS", "3")))
    return extract.extract_chunks(*args, **kwargs)


def pid() -> int:
    return os.getpid()


def imported(module: str) -> bool:
    """Whether this process has loaded ``module``."""
    return module in sys.modules
