"""Collapsed stacks (``py-spy record --format raw --threads --subprocesses``) → tables + SVG.

The benches write ``<label>.collapsed`` and ``<label>.runs`` when run with
``BENCH_PROFILE_DIR=<dir> BENCH_PROFILER=py-spy`` (see ``bench._setup.profiled``). This
turns one into:

- ``<label>.txt``: CPU per process and per thread, then the top functions by own time
  (the sampled frame itself) and by cumulative time (the frame anywhere on the stack), in
  ms per run. py-spy samples 100 times a second and leaves threads it sees idle out, so a
  sample stands for about 10 ms of a thread's time; but a thread blocked inside C code
  (SQLite's busy-wait, a lock with a timeout, the GIL) counts as busy, so the totals exceed
  the CPU used: ``cprofile`` (CPU time) gives the CPU split, these the shape;
- ``<label>.svg``: a flame graph of every thread, frames under 1% left out (small enough
  to keep in the repository; hover a frame for its name and share).

The emulator's threads (it runs in the bench process) are left out of both.

    .venv/bin/python -m bench.flame bench/profiles/p2-embedded.collapsed
"""

from __future__ import annotations

import argparse
import html
import re
import zlib
from collections import Counter
from pathlib import Path

SAMPLE_MS = 10.0  # --rate 100
LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` → ``func (path/file.py)``: one row per function, not per line."""
    return LINE.sub(")", frame)


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def process_and_thread(stack: list[str]) -> tuple[str, str]:
    """(program, thread) of a sample: the innermost ``process`` frame (a worker subprocess
    is nested under the bench's), by module name, and the thread frame after it."""
    where = max((i for i, f in enumerate(stack) if f.startswith("process ")), default=-1)
    process = "?"
    if where >= 0:
        command = stack[where].split(":", 1)[-1].strip('"')
        process = command.split(" -m ", 1)[1] if " -m " in command else command[-50:]
    after = stack[where + 1] if where + 1 < len(stack) else ""
    thread = after if after.startswith("thread ") else "(no thread frame)"
    # Threads of a pool have one name each (asyncio_0, asyncio_1, ...): one row for the pool.
    thread = re.sub(r"^thread \(\d+\):?\s*", "", thread)
    thread = re.sub(r"\d+", "*", thread) or "main"
    return process, thread


def is_emulator(stack: list[str]) -> bool:
    """The in-process provider emulator's threads: the provider's side, not the platform's."""
    _, thread = process_and_thread(stack)
    return "process_request_thread" in thread or "provider-emulator" in thread


def tables(stacks: list[tuple[list[str], int]], runs: int, top: int = 30) -> str:
    emulator = sum(n for stack, n in stacks if is_emulator(stack))
    stacks = [(stack, n) for stack, n in stacks if not is_emulator(stack)]
    total = sum(n for _, n in stacks)
    per_run = SAMPLE_MS / runs
    split: Counter[tuple[str, str]] = Counter()
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    for stack, n in stacks:
        split[process_and_thread(stack)] += n
        frames = [f for f in stack if not f.startswith(("process ", "thread "))]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            cumulative[frame] += n
    lines = [
        f"py-spy, 100 samples/s, {runs} runs, {total} samples ({total * SAMPLE_MS / 1000:.1f} s of CPU): "
        f"{total * per_run:.1f} ms of CPU per run; left out: the emulator's threads "
        f"({emulator * per_run:.1f} ms per run, mostly its pacing waits)",
        "",
        "CPU per process and thread",
        f"{'ms/run':>8} {'share':>6}  process / thread",
        "-" * 72,
    ]
    for (process, thread), n in split.most_common():
        lines.append(f"{n * per_run:8.2f} {n / total:6.1%}  {process} / {thread}")
    for title, counter in (("by own time", own), ("by cumulative time", cumulative)):
        lines += ["", title, f"{'ms/run':>8} {'share':>6}  function", "-" * 72]
        for frame, n in counter.most_common(top):
            lines.append(f"{n * per_run:8.2f} {n / total:6.1%}  {frame}")
    return "\n".join(lines) + "\n"


def svg(stacks: list[tuple[list[str], int]], title: str, min_share: float = 0.01) -> str:
    """A flame graph (root at the bottom) as a small standalone SVG."""
    counts: Counter[tuple[str, ...]] = Counter()
    stacks = [(stack, n) for stack, n in stacks if not is_emulator(stack)]
    for stack, n in stacks:
        for depth in range(1, len(stack) + 1):
            counts[tuple(stack[:depth])] += n
    total = sum(n for _, n in stacks)
    width, row = 1200.0, 16
    keep = {path: n for path, n in counts.items() if n / total >= min_share}
    depth = max((len(p) for p in keep), default=1)
    height = (depth + 2) * row
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in sorted(keep):
        children.setdefault(path[:-1], []).append(path)
    rects: list[str] = []

    def place(parent: tuple[str, ...], x: float) -> None:
        for path in sorted(children.get(parent, [])):
            w = keep[path] / total * width
            y = height - (len(path) + 1) * row
            name = html.escape(path[-1])
            hue = 20 + (zlib.crc32(path[-1].split(" (")[-1].encode()) % 40)
            label = name if w > 60 else ""
            rects.append(
                f"<g><title>{name} ({keep[path] / total:.1%})</title>"
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                f'<text x="{x + 2:.1f}" y="{y + row - 4}" font-size="10" clip-path="inset(0)">'
                f"{html.escape(label[: int(w / 6)])}</text></g>"
            )
            place(path, x)
            x += w

    place((), 0.0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'font-family="monospace"><text x="4" y="12" font-size="12">{html.escape(title)}</text>'
        + "".join(rects)
        + "</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collapsed", type=Path)
    parser.add_argument("--runs", type=int, help="runs profiled (default: <label>.runs)")
    parser.add_argument("--min-share", type=float, default=0.01, help="leave out frames under this share")
    args = parser.parse_args()
    source: Path = args.collapsed
    runs = args.runs or int(source.with_suffix(".runs").read_text())
    stacks = load(source)
    source.with_suffix(".txt").write_text(tables(stacks, runs))
    source.with_suffix(".svg").write_text(
        svg(stacks, f"{source.stem}: {runs} runs, py-spy (all threads)", args.min_share)
    )
    print(source.with_suffix(".txt").read_text())


if __name__ == "__main__":
    main()
