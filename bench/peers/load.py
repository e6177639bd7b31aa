"""The load every system gets, and the figures taken from it.

``drive`` sends ``runs`` requests, ``concurrency`` in flight (each of ``concurrency`` loops
sends its next request as soon as the previous one ended), after ``warmup`` unmeasured ones.
Each request yields a ``Sample``: the time from sending it to the first text of the answer,
and whether the whole answer arrived. CPU is read from ``/proc`` for a system's whole
process tree (every descendant of its root process, plus the children it already reaped),
before and after the measured runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._setup import pct
from bench.peers.emulator import ANSWER

PROMPT = "Say hello."
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One run as the client saw it."""

    first_token_ms: float | None  # request sent → first text of the answer
    ok: bool  # the whole answer arrived
    error: str = ""

    @classmethod
    def of(cls, t0: float, first: float | None, text: str, error: str = "") -> Sample:
        ok = " ".join(text.split()) == " ".join(ANSWER.split())
        if not ok and not error:
            error = f"answer differs: {text[:120]!r}"
        return cls(None if first is None else (first - t0) * 1000, ok, error)


@dataclass
class Result:
    """The measured part of one system's load."""

    runs: int
    seconds: float
    cpu_seconds: float
    samples: list[Sample] = field(default_factory=list)
    load_before: float = 0.0  # the box's 1-minute load average when the measured runs began

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.samples)

    @property
    def runs_per_second(self) -> float:
        return self.ok / self.seconds

    @property
    def cpu_per_100(self) -> float:
        return self.cpu_seconds / self.runs * 100

    def first_token(self, q: float) -> float:
        return pct([s.first_token_ms for s in self.samples if s.ok and s.first_token_ms is not None], q)

    def errors(self) -> list[str]:
        return sorted({s.error for s in self.samples if s.error})

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "load_before": self.load_before,
            "samples": [[s.first_token_ms, s.ok, s.error] for s in self.samples],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        samples = [Sample(ms, ok, error) for ms, ok, error in data["samples"]]
        return cls(data["runs"], data["seconds"], data["cpu_seconds"], samples, data["load_before"])


async def drive(
    run_one: Callable[[int], Awaitable[Sample]],
    *,
    runs: int,
    concurrency: int,
    warmup: int,
    pids: Callable[[], Iterable[int]],
    deadline: float = 60.0,
) -> Result:
    """``warmup`` unmeasured runs (same concurrency), then ``runs`` measured ones."""

    async def guarded(i: int) -> Sample:
        try:
            async with asyncio.timeout(deadline):  # a stalled stream is a failed run, not a hang
                return await run_one(i)
        except TimeoutError:
            return Sample(None, False, f"no complete answer within {deadline:.0f} s")
        except Exception as exc:  # a failed run is a figure, not the end of the bench
            return Sample(None, False, f"{type(exc).__name__}: {str(exc)[:160]}")

    async def pass_of(n: int, start: int) -> list[Sample]:
        samples: list[Sample] = []
        counter = iter(range(start, start + n))

        async def loop() -> None:
            for i in counter:
                samples.append(await guarded(i))

        await asyncio.gather(*(loop() for _ in range(min(concurrency, n))))
        return samples

    if warmup:
        await pass_of(warmup, -warmup)
    load_before = os.getloadavg()[0]
    cpu0 = tree_cpu(pids())
    t0 = time.perf_counter()
    samples = await pass_of(runs, 0)
    seconds = time.perf_counter() - t0
    return Result(runs, seconds, tree_cpu(pids()) - cpu0, samples, load_before)


# ---------------------------------------------------------------- /proc


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system, plus those of reaped children) of ``pids``; gone ones count 0."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat(pid)
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / CLK_TCK
