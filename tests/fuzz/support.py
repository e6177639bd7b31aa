"""What every fuzz test shares: the settings, hostile text, and the two invariants.

The invariants, checked for each generated case:

- ``outcome(call)``: the call either returns, or raises a ``GalaxyError`` with a non-empty
  message (and, for a ``ValidationError``, non-empty field messages). Anything else is a
  500-type crash and fails the test.
- ``workspace_snapshot(workspace_id)``: every row of every tenant table of the workspace,
  plus its files on disk. A refused call must leave it exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import SQLModel

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.infra.db import get_engine

# Reproducible in CI: the same cases every run, no example database on disk, no
# per-example deadline (a first LanceDB or zoneinfo call is slow and that is not a bug).
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # Hostile strings are large on purpose.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def fuzz(max_examples: int) -> settings:
    """``FUZZ`` with this test's share of the suite's cases (≥ 1,000 in all)."""
    return settings(FUZZ, max_examples=max_examples)


# ---------------------------------------------------------------- hostile text

PAYLOADS = [
    "",
    " ",
    "\t\n\r ",
    "\u00a0\u2003\u3000",  # non-breaking, em and ideographic spaces
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202egpj.exe",  # right-to-left override
    "\u2066isolate\u2069",
    "\u200bzero\u200dwidth\ufeff",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<iframe srcdoc='<script>parent.x=1</script>'>",
    "[click](javascript:alert(1))",
    "![img](http://169.254.169.254/latest/meta-data)",
    "**bold** _it_ `code` # heading\n> quote",
    "'; DROP TABLE agents; --",
    '" OR 1=1 --',
    "%_\\%",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "İstanbul",
    "ß",
    "STRASSE",
    "ﬁle",
    "\u212a",  # Kelvin sign, lower-cases to "k"
    "ǅ",
    "e\u0301",  # e + combining acute
    "\u00e9",
    "👩‍👩‍👧‍👦",
    "\U0001f600" * 3,
    "ـــ",
    "مرحبا",
    "\x1b[31mred\x1b[0m",
    "\x7f\x08\x0c",
    "\u2028line\u2029para",
    "../../etc/passwd",
    "C:\\Windows\\system32",
    "{{7*7}}${7*7}",
    "null",
    "None",
]

_any_char = st.characters(exclude_categories=())  # every code point: NUL, lone surrogates too


def hostile_text(max_size: int = 120) -> st.SearchStrategy[str]:
    """Text a browser or an API client could send: payloads, noise, and both mixed."""
    noise = st.text(_any_char, max_size=max_size)
    payload = st.sampled_from(PAYLOADS)
    # Just past the limits the services declare (80, 120, 500, 20,000 characters).
    long = st.builds(
        lambda char, n: char * n,
        st.sampled_from(["x", "é", " ", "\x00", "👩‍👩‍👧"]),
        st.sampled_from([81, 121, 501, 20_001]),
    )
    return st.one_of(
        payload,
        noise,
        st.text(st.characters(codec="utf-8"), max_size=max_size),  # storable noise
        st.tuples(payload, noise, payload).map("".join),
        st.builds(lambda p, n: p * n, payload, st.integers(1, 40)),
        long,
    )


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON a client could send where a string was expected."""
    scalar = st.none() | st.booleans() | st.integers() | st.floats() | hostile_text(20)
    return scalar | st.lists(scalar, max_size=3) | st.dictionaries(hostile_text(8), scalar, max_size=3)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any], *, tenths: int = 7
) -> st.SearchStrategy[Any]:
    """``valid`` in ``tenths`` of the draws, else ``hostile``.

    ``st.one_of`` flattens nested ``one_of``s and picks among all their branches, so a
    valid value next to ``hostile_text`` would be drawn rarely; a call with several
    fields would then almost never succeed, and the success path would go untested.
    """
    return st.integers(0, 9).flatmap(lambda n: valid if n < tenths else hostile)


# ---------------------------------------------------------------- invariants


def outcome(call: Callable[[], Any]) -> tuple[Any, GalaxyError | None]:
    """(result, None) on success, (None, error) on a clear ``GalaxyError``; anything else fails."""
    try:
        result = call()
    except GalaxyError as error:
        event(f"refused: {type(error).__name__}")  # shown by --hypothesis-show-statistics
        assert error.message and error.message.strip(), f"{type(error).__name__} without a message"
        if isinstance(error, ValidationError):
            assert error.field_errors, "a ValidationError names the fields at fault"
            assert all(m and m.strip() for m in error.field_errors.values()), error.field_errors
        return None, error
    event("succeeded")
    return result, None


def _tenant_tables() -> list[Any]:
    return [t for t in SQLModel.metadata.sorted_tables if "workspace_id" in t.c]


def workspace_snapshot(workspace_id: str) -> dict[str, Any]:
    """Every row of every tenant table of the workspace, and its files on disk."""
    snapshot: dict[str, Any] = {}
    with get_engine().connect() as conn:
        for table in _tenant_tables():
            rows = conn.execute(select(table).where(table.c.workspace_id == workspace_id)).all()
            snapshot[table.name] = sorted((tuple(row) for row in rows), key=repr)
    uploads = get_settings().resolved_uploads_dir / workspace_id
    snapshot["files"] = (
        sorted(str(p.relative_to(uploads)) for p in uploads.rglob("*")) if uploads.exists() else []
    )
    return snapshot


def count_rows(workspace_id: str) -> dict[str, int]:
    return {name: len(rows) for name, rows in workspace_snapshot(workspace_id).items()}


def files_under(path: Path) -> list[str]:
    return sorted(str(p) for p in path.rglob("*")) if path.exists() else []
