"""P3: live text lag, 50 concurrent runs streaming 50 tokens/s (~10 s of text) each.

Every token the emulator sends is unique (``r<run>w<word>``), and a bench-only emulator
subclass stamps the moment each token's chunk is written to the socket. One watcher per
run reads the run's stream; for every token in every ``text`` event, lag = watcher
receive time - emulator write time (both ``perf_counter`` in this process).

The executor batches text deltas (``PUBLISH_INTERVAL`` = 50 ms): a batch is published
when a token arrives ≥ 50 ms after the previous publish, so the newest token of a batch
waits for no batching while older ones waited up to one interval. "Newest token" lag is
therefore the pipeline without batching; "all tokens" minus it is what batching adds.

Target: p95 < 100 ms (all tokens).

    .venv/bin/python -m bench.stream_lag            # embedded (SQLite, in-process)
    .venv/bin/python -m bench.stream_lag --redis    # PostgreSQL + Redis, SAQ worker subprocess and in-process
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

from bench import _setup

RUNS, TOKENS, TOKENS_PER_SECOND = 50, 500, 50
MARK = re.compile(r"r(\d+)w(\d+)")


def stamping_emulator() -> Any:
    """An ``Emulator`` whose handlers record when each marked token was written."""
    from galaxyco_ui.devtools.emulator import Emulator, _Handler

    stamps: dict[str, float] = {}

    class Writer:
        def __init__(self, raw: Any) -> None:
            self._raw = raw

        def write(self, data: bytes) -> int:
            # Stamped just before the write: stamped after it, a reader in the other thread
            # could receive the token before its stamp exists (a KeyError in the floor's loop).
            now = time.perf_counter()
            for match in MARK.finditer(data.decode("utf-8", "replace")):
                stamps[match.group()] = now
            return int(self._raw.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._raw, name)

    class StampingHandler(_Handler):
        def setup(self) -> None:
            super().setup()
            self.wfile = Writer(self.wfile)  # type: ignore[assignment]

    class StampingEmulator(Emulator):
        def start(self) -> StampingEmulator:
            super().start()
            assert self._server is not None
            self._server.RequestHandlerClass = StampingHandler
            return self

    emulator = StampingEmulator()
    emulator.stamps = stamps  # type: ignore[attr-defined]
    return emulator


async def watch(b: _setup.Bench, lags: dict[str, list[float]]) -> None:
    from galaxyco_ui.services.runs import start_run

    view = await start_run(ctx=b.ctx, agent_id=b.agent_id, input="stream please")
    stamps: dict[str, float] = b.emulator.stamps  # type: ignore[attr-defined]
    for received, event in await _setup.follow(view.id, within=90):
        if event.type != "text":
            continue
        marks = MARK.findall(event.data["delta"])
        per_token = [(received - stamps[f"r{r}w{w}"]) * 1000 for r, w in marks]
        lags["all tokens"] += per_token
        lags["all tokens, after the first 2 s"] += [
            lag for (_, w), lag in zip(marks, per_token, strict=True) if int(w) >= 2 * TOKENS_PER_SECOND
        ]
        if per_token:
            lags["newest token of each event"].append(min(per_token))
            lags["events"].append(len(per_token))


async def measure(b: _setup.Bench, label: str) -> list[list[object]]:
    from galaxyco_ui.devtools.script import Script

    for r in range(RUNS):
        text = " ".join(f"r{r}w{w}" for w in range(TOKENS))
        b.emulator.enqueue(Script.slow(text, tokens_per_second=TOKENS_PER_SECOND))
    names = ("all tokens", "all tokens, after the first 2 s", "newest token of each event")
    lags: dict[str, list[float]] = {name: [] for name in (*names, "events")}
    pids = _setup.child_pids()
    t0, cpu0, wcpu0 = time.perf_counter(), time.process_time(), _setup.worker_pids_cpu(pids)
    await asyncio.gather(*(watch(b, lags) for _ in range(RUNS)))
    wall = time.perf_counter() - t0
    cpu, wcpu = time.process_time() - cpu0, _setup.worker_pids_cpu(pids) - wcpu0
    rows: list[list[object]] = []
    for name in names:
        v = lags[name]
        rows.append([label, name, len(v), _setup.pct(v, 50), _setup.pct(v, 95), _setup.pct(v, 99), max(v)])
    batch = sum(lags["all tokens"]) / len(lags["all tokens"]) - sum(lags["newest token of each event"]) / len(
        lags["newest token of each event"]
    )
    tokens_per_event = sum(lags["events"]) / len(lags["events"])
    print(
        f"{label}: {RUNS} runs x {TOKENS} tokens in {wall:.1f} s; {tokens_per_event:.1f} tokens per "
        f"text event; batching adds {batch:.1f} ms to the mean token lag; CPU: this process "
        f"{cpu / wall:.0%}, worker processes {wcpu / wall:.0%} (of one core)"
    )
    return rows


async def floor(b: _setup.Bench) -> list[list[object]]:
    """The same 50 paced streams read by a bare ``AsyncOpenAI`` loop in this process (no
    platform, database or bus): the lag this box and the in-process emulator give anyway."""
    import openai

    from galaxyco_ui.devtools.script import Script

    client = openai.AsyncOpenAI(base_url=b.emulator.openai_base_url, api_key="bench", max_retries=0)
    stamps: dict[str, float] = b.emulator.stamps  # type: ignore[attr-defined]
    lags: list[float] = []

    async def one() -> None:
        stream = await client.chat.completions.create(
            model="bench-model", messages=[{"role": "user", "content": "stream please"}], stream=True
        )
        async for chunk in stream:
            received = time.perf_counter()
            delta = chunk.choices[0].delta.content if chunk.choices else None
            lags.extend((received - stamps[f"r{r}w{w}"]) * 1000 for r, w in MARK.findall(delta or ""))

    for r in range(1000, 1000 + RUNS):  # tokens of their own: r1000w0 ...
        text = " ".join(f"r{r}w{w}" for w in range(TOKENS))
        b.emulator.enqueue(Script.slow(text, tokens_per_second=TOKENS_PER_SECOND))
    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(RUNS)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await client.close()
    print(f"floor: {len(lags)} tokens in {wall:.1f} s; CPU: this process {cpu / wall:.0%} (of one core)")
    return [
        [
            "floor: bare SDK loop",
            "all tokens",
            len(lags),
            _setup.pct(lags, 50),
            _setup.pct(lags, 95),
            _setup.pct(lags, 99),
            max(lags),
        ]
    ]


async def main(redis: bool, shared_ssl: bool) -> None:
    shapes = ["subprocess", "inproc"] if redis else ["embedded"]
    rows: list[list[object]] = []
    if shared_ssl:
        _setup.share_ssl_context()
    with _setup.bench(redis=redis, emulator=stamping_emulator()) as b:
        for shape in shapes:
            async with _setup.executors(b, shape, concurrency=64):
                with _setup.profiled(f"p3-{shape}", RUNS):
                    rows += await measure(b, shape)
        if not _setup.PROFILE_DIR:
            rows += await floor(b)
    what_if = " [what-if: shared SSL context in this process]" if shared_ssl else ""
    print(
        f"\nP3 stream lag, ms (receive - emulator write), {RUNS} runs at {TOKENS_PER_SECOND} tokens/s{what_if}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    _setup.print_table(["executor", "tokens", "n", "p50", "p95", "p99", "max"], rows)
    print("target: p95 < 100 ms (all tokens)")


if __name__ == "__main__":
    args = _setup.parse_args(__doc__.splitlines()[0])
    _setup.configure(redis=args.redis, run_concurrency=64)
    asyncio.run(main(args.redis, args.shared_ssl))
