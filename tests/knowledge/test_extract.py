"""The extraction process pool: tuned for parsing, and gone when its owner is gone."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from galaxyco_ui.knowledge import extract

ROOT = Path(__file__).resolve().parents[2]


def test_pool_processes_run_the_collector_rarely():
    pool = extract.get_pool(1)
    assert pool.submit(gc.get_threshold).result(timeout=60) == (100_000, 50, 100)


def test_pool_processes_exit_when_their_owner_is_killed(tmp_path: Path):
    script = textwrap.dedent(
        """
        import asyncio, os
        from galaxyco_ui.knowledge import extract

        async def main():
            await extract.warm_pool(2)
            print(" ".join(str(p.pid) for p in extract._pool._processes.values()), flush=True)
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
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in pids if _running(pid)]
    assert alive == [], "orphaned extraction processes kept running"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie has exited
