"""Database engine and sessions: one engine per process, one session per use case.

``session_scope()`` is the unit of work of a service function: it commits when the
block ends normally and rolls back on any exception. Services never keep a session
open across network calls.

SQLite (the embedded mode) lets one connection write at a time, and its busy handler
does not queue the others: each sleeps and retries (1, 2, 5 … 100 ms) until
``busy_timeout``, so under load a writer that keeps losing to newcomers with shorter
sleeps fails "database is locked" (a run's claim did, at load 9). So every SQLite
connection of this process passes one FIFO write gate (``WriteGate``) before a statement
that may write: it waits its turn there instead of in SQLite's busy handler, and holds
the gate until its transaction ends (commit, rollback or close). Reads never take it
(WAL readers do not block writers), and pysqlite runs them outside a transaction until
the first write, so a writer holding the gate never waits on a snapshot. A thread that
holds the gate passes it again with another connection (a nested session): that write
then waits in SQLite's busy handler as before, and fails after ``busy_timeout`` rather
than deadlocking. Other processes (the Alembic CLI) still meet the busy handler.
"""

from __future__ import annotations

import collections
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from galaxyco_ui.config import get_settings

_engine: Engine | None = None

BUSY_TIMEOUT_MS = 5000  # another process's write lock (the gate covers this process's writers)
WRITE_GATE_TIMEOUT_SECONDS = 120.0  # a turn at the gate this late means a transaction left open


class WriteGate:
    """One writer at a time, in arrival order; re-entered by the thread that holds it.

    ``acquire`` and ``release`` count holds: the gate passes to the next waiter when the
    holding thread has released every hold it took.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[tuple[int, threading.Lock]] = collections.deque()
        self._owner: int | None = None
        self._holds = 0

    def acquire(self, timeout: float = WRITE_GATE_TIMEOUT_SECONDS) -> None:
        """Wait for this thread's turn.

        Raises:
            sqlite3.OperationalError: no turn within ``timeout`` seconds.
        """
        me = threading.get_ident()
        with self._mutex:
            if self._owner is None or self._owner == me:
                self._owner, self._holds = me, self._holds + 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append((me, turn))
        if turn.acquire(timeout=timeout):
            return  # handed over by ``release``: owner and holds are already ours
        with self._mutex:
            if self._owner == me:  # handed over just as the wait timed out
                return
            self._waiters.remove((me, turn))
        raise sqlite3.OperationalError(
            f"database is locked: no turn at this process's write gate within {timeout:.0f} s"
        )

    def release(self) -> None:
        """Give back one hold; the last one hands the gate to the longest waiter."""
        with self._mutex:
            self._holds -= 1
            if self._holds > 0:
                return
            if self._waiters:
                self._owner, turn = self._waiters.popleft()
                self._holds = 1
                turn.release()
            else:
                self._owner = None


_write_gate = WriteGate()
# Statements that only read: everything else (DML, DDL, WITH …, SAVEPOINT) takes the gate.
_READ_ONLY = re.compile(r"\s*(?:SELECT|PRAGMA|EXPLAIN)\b", re.IGNORECASE)


class _GatedConnection(sqlite3.Connection):
    """A pysqlite connection that holds ``_write_gate`` from its first write to its transaction's end."""

    _holds_gate = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _GatedCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        return self.cursor().executescript(script)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn(closing=True)

    def _take_turn(self, sql: str) -> None:
        if not self._holds_gate and not _READ_ONLY.match(sql):
            _write_gate.acquire()
            self._holds_gate = True

    def _end_turn(self, *, closing: bool = False) -> None:
        """Release the gate once no transaction is open (a failed COMMIT leaves one for the rollback)."""
        if self._holds_gate and (closing or not self.in_transaction):
            self._holds_gate = False
            _write_gate.release()


class _GatedCursor(sqlite3.Cursor):
    connection: _GatedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        self.connection._take_turn(sql)
        try:
            super().execute(sql, parameters)
            return self
        finally:
            self.connection._end_turn()  # a write outside a transaction (DDL) ends with its statement

    def executemany(self, sql: str, parameters: Any, /) -> Self:
        self.connection._take_turn(sql)
        try:
            super().executemany(sql, parameters)
            return self
        finally:
            self.connection._end_turn()

    def executescript(self, script: str, /) -> Self:
        self.connection._take_turn(script)
        try:
            super().executescript(script)
            return self
        finally:
            self.connection._end_turn()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the settings GalaxyCo relies on."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.endswith(":memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "factory": _GatedConnection})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    global _engine
    if _engine is None:
        _engine = make_engine(get_settings().resolved_database_url)
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Replace the process-wide engine (tests point it at their database)."""
    global _engine
    if _engine is not None and _engine is not engine:
        _engine.dispose()
    _engine = engine


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
