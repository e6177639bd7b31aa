"""The embedded mode's SQLite write gate: this process's writers queue, none fails "database is locked".

Every test uses a real SQLite file and real threads. SQLite's own wait (``busy_timeout``)
is cut to 50 ms, so a writer of this process that met another's write lock would fail at
once: with the gate, none ever meets it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from galaxyco_ui.infra import db
from galaxyco_ui.infra.db import WriteGate, session_scope

THREADS, TRANSACTIONS = 16, 25


@pytest.fixture
def sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap_engine: Callable[[Engine], Engine]
) -> Iterator[Engine]:
    """The process-wide engine on a fresh SQLite file holding one counter, SQLite's wait cut to 50 ms."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 50)
    engine = swap_engine(db.make_engine(f"sqlite:///{tmp_path / 'gate.db'}"))
    with session_scope() as session:
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield engine


def _count() -> int:
    with session_scope() as session:
        return int(session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one())


def _in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_many_threads_writing_at_once_all_commit(sqlite_file: Engine) -> None:
    """16 threads, 25 read-then-write transactions each, each holding the write lock a while."""

    def writer() -> None:
        for _ in range(TRANSACTIONS):
            with session_scope() as session:
                session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
                session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                time.sleep(0.002)  # a loaded box: the writer is descheduled before its commit

    started = [_in_thread(writer) for _ in range(THREADS)]
    for thread, _errors in started:
        thread.join(timeout=60)
    errors = [error for _thread, errors in started for error in errors]
    assert errors == []
    assert _count() == THREADS * TRANSACTIONS


def test_reads_do_not_wait_for_a_writer(sqlite_file: Engine) -> None:
    wrote, finish = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with session_scope() as session:
            session.execute(text("UPDATE counter SET n = 7 WHERE id = 1"))
            wrote.set()
            finish.wait(10)

    thread, errors = _in_thread(slow_writer)
    assert wrote.wait(10)
    began = time.monotonic()
    assert _count() == 0  # the last committed value, at once
    assert time.monotonic() - began < 1
    finish.set()
    thread.join(10)
    assert errors == []
    assert _count() == 7


def test_a_failed_transaction_lets_the_next_writer_in(sqlite_file: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        session.execute(text("UPDATE counter SET n = 1 WHERE id = 1"))
        raise RuntimeError("the use case failed after its first write")

    def writer() -> None:
        with session_scope() as session:
            session.execute(text("UPDATE counter SET n = n + 5 WHERE id = 1"))

    thread, errors = _in_thread(writer)
    thread.join(10)
    assert not thread.is_alive() and errors == []
    assert _count() == 5


def test_a_nested_write_in_the_same_thread_fails_instead_of_hanging(sqlite_file: Engine) -> None:
    """The gate lets its holder's thread in again: SQLite then refuses, after busy_timeout."""

    def nested() -> None:
        with session_scope() as outer:
            outer.execute(text("UPDATE counter SET n = 1 WHERE id = 1"))
            with session_scope() as inner:
                assert inner.execute(text("SELECT n FROM counter")).scalar_one() == 0  # reads pass
                inner.execute(text("UPDATE counter SET n = 2 WHERE id = 1"))

    thread, errors = _in_thread(nested)
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], OperationalError)
    assert "database is locked" in str(errors[0])
    # Both sessions rolled back and released the gate: the next writer goes in at once.
    with session_scope() as session:
        session.execute(text("UPDATE counter SET n = 3 WHERE id = 1"))
    assert _count() == 3


def test_the_gate_serves_waiters_in_arrival_order() -> None:
    gate = WriteGate()
    gate.acquire()
    order: list[int] = []
    threads = []
    for index in range(5):

        def wait_turn(index: int = index) -> None:
            gate.acquire()
            order.append(index)
            gate.release()

        threads.append(threading.Thread(target=wait_turn))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while len(gate._waiters) <= index and time.monotonic() < deadline:  # queued before the next one comes
            time.sleep(0.001)
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_a_turn_that_never_comes_fails_with_a_clear_error() -> None:
    gate = WriteGate()
    holder = threading.Thread(target=gate.acquire)
    holder.start()
    holder.join()  # the gate stays held by a thread that is gone, as by a transaction left open
    with pytest.raises(Exception, match="write gate within 0 s"):
        gate.acquire(timeout=0.05)
    assert not gate._waiters
