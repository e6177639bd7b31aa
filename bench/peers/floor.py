"""The floor: a bare loop that streams the emulator's answer through the OpenAI SDK.

No platform, no database, no bus: one ``AsyncOpenAI`` client, ``--runs`` streamed chat
completions with ``--concurrency`` in flight. What this box can do at best with the SDK
every system here uses (GalaxyCo's providers use it too). Prints one JSON object: the
figures the peers table needs, measured inside this process after a warm-up (its own CPU
from ``/proc``, so the import of the SDK is not counted).

    .venv/bin/python -m bench.peers.floor --base-url http://127.0.0.1:8790/v1 --runs 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import openai

from bench.peers import load


async def one(client: openai.AsyncOpenAI, model: str) -> load.Sample:
    t0 = time.perf_counter()
    first, text = None, []
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": load.PROMPT}], stream=True
    )
    async for chunk in stream:
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            first = first if first is not None else time.perf_counter()
            text.append(delta)
    return load.Sample.of(t0, first, "".join(text))


async def main(args: argparse.Namespace) -> None:
    client = openai.AsyncOpenAI(base_url=args.base_url, api_key="bench", max_retries=0)
    result = await load.drive(
        lambda _i: one(client, "bench-model"),
        runs=args.runs,
        concurrency=args.concurrency,
        warmup=args.warmup,
        pids=lambda: [os.getpid()],
    )
    await client.close()
    print(json.dumps(result.as_json()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
