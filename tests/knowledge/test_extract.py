"""The extraction process pool: tuned for parsing, time-limited, and gone when its owner is gone."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from galaxyco_ui.knowledge import extract
from tests.knowledge import slow_parsers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool():  # type: ignore[no-untyped-def]
    """A two-slot pool of this test's own, stopped after it."""
    pool = extract.ExtractionPool(2)
    yield pool
    pool.close()


async def test_pool_processes_run_the_collector_rarely(pool):
    assert await pool.run(gc.get_threshold, limit_seconds=60) == (100_000, 50, 100)


async def test_a_hung_parser_is_stopped_at_the_limit_and_its_process_replaced(pool):
    await pool.warm()
    before = set(pool.pids())
    started = time.monotonic()
    neighbour = asyncio.create_task(pool.run(functools.partial(time.sleep, 1.5), limit_seconds=30))

    with pytest.raises(extract.ExtractionTimeout):
        await pool.run(slow_parsers.hang, limit_seconds=1)

    assert 1 <= time.monotonic() - started < 3
    await neighbour  # the other document in the pool finished undisturbed
    hung = (before - set(pool.pids())).pop()
    assert await asyncio.to_thread(_exits_within, hung, 5), "the hung parser's process was left running"
    # The pool still has two working slots, one of them a new process.
    pids = await asyncio.gather(*(pool.run(slow_parsers.pid, limit_seconds=30) for _ in range(2)))
    assert hung not in pids
    assert len(set(pool.pids())) == 2


async def test_a_long_call_sends_heartbeats_while_it_runs(pool):
    beats: list[float] = []

    async def heartbeat() -> None:
        beats.append(time.monotonic())

    await pool.run(
        functools.partial(time.sleep, 1.2), limit_seconds=30, heartbeat=heartbeat, heartbeat_seconds=0.2
    )

    assert len(beats) >= 4


async def test_a_crashed_process_fails_its_call_and_the_pool_goes_on(pool):
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        await pool.run(functools.partial(os._exit, 3), limit_seconds=30)

    assert await pool.run(gc.get_threshold, limit_seconds=30) == (100_000, 50, 100)


async def test_pdfium_is_loaded_in_the_extraction_processes_and_nowhere_else(pool):
    assert await pool.run(functools.partial(slow_parsers.imported, "pypdfium2"), limit_seconds=60)
    # The app and the worker import the ingestion path (and with it the parsers) but never
    # load PDFium, a C++ library fed hostile files, into their own process.
    probe = (
        "import sys; import galaxyco_ui.runs.worker, galaxyco_ui.services.knowledge;"
        "from galaxyco_ui.knowledge import extract, parsing;"
        "assert 'pypdfium2' not in sys.modules, 'PDFium loaded'"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_pool_processes_exit_when_their_owner_is_killed(tmp_path: Path):
    script = textwrap.dedent(
        """
        import asyncio, os
        from galaxyco_ui.knowledge import extract

        async def main():
            await extract.warm_pool(2)
            print(" ".join(str(p) for p in extract.get_pool(2).pids()), flush=True)
            os._exit(9)  # no cleanup at all, as after SIGKILL or the OOM killer

        if __name__ == "__main__":
            asyncio.run(main())
        """
    )
    owner = tmp_path / "owner.py"  # spawn re-imports the main module from its file
    owner.write_text(script)
    log = tmp_path / "owner.log"
    with log.open("w") as out:  # a file, not a pipe: the children inherit stdout
        subprocess.run(
            [sys.executable, str(owner)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    done_output = log.read_text()
    pids = [int(p) for p in done_output.split()[:2] if p.isdigit()]
    assert len(pids) == 2, done_output
    assert all(_exits_within(pid, 10) for pid in pids), "orphaned extraction processes kept running"


def _exits_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie has exited
