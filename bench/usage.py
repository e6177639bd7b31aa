"""bench.usage: the usage page's queries on PostgreSQL with 1,000,000 runs.

Seeds a PostgreSQL database with ``bench/_api_seed.py`` (the api_latency bench's data:
1,000,000 terminal runs across 100 workspaces over 90 days, the largest workspace about
5 % of them; no run steps, the page never reads them), rebuilds the rollup with the
backfill the operator runs (``runs.usage.rebuild_usage``, timed), then calls the
service functions the /usage page calls, in this process, for a 90-day window:

- ``report``: ``get_usage_report`` (per-day sums with the duration histogram, cost by
  agent / member / model, the row count and the first table page): everything the page
  draws, one call per filter change. Each iteration picks no filter or one of agent,
  member, model, trigger at random;
- ``filters``: ``list_usage_filter_options`` (the page's load);
- ``csv``: ``export_usage_csv`` for the whole window;
- ``agent month``: ``get_agent_month_usage`` (the agent page's line).

Target: ``report`` p95 ≤ 50 ms for a 90-day window.

    .venv/bin/python -m bench.usage             # seed (~2 min) + backfill, then measure
    .venv/bin/python -m bench.usage --reuse     # backfill and measure the seeded database again
    .venv/bin/python -m bench.usage --workspaces 1   # all 1,000,000 runs in one workspace

The database (``--database-url``, default ``bench_usage``, created when missing) is
emptied and migrated unless ``--reuse``; its name must start with ``bench``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bench import _api_seed, _setup

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/bench_usage"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="skip seeding: the database holds the data")
    parser.add_argument("--skip-backfill", action="store_true", help="keep the rollup the last run built")
    parser.add_argument("--iterations", type=int, default=300, help="measured report calls per workspace")
    args = parser.parse_args()
    name = urlsplit(_api_seed.pg_url(args.database_url)).path.lstrip("/")
    if not name.startswith("bench"):
        parser.error("the database name must start with 'bench' (it is emptied)")
    return args


def _create_database(database_url: str) -> None:
    import psycopg

    url = _api_seed.pg_url(database_url)
    name = urlsplit(url).path.lstrip("/")
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    args = parse_args()
    os.environ.update(
        GALAXYCO_ENV="test",
        DATABASE_URL=_api_seed.pg_url(args.database_url),
        LOG_LEVEL="WARNING",
        SECRET_KEY="bench-usage-secret-key-0123456789abcdefghijklmnop",
    )
    if not args.reuse:
        _create_database(args.database_url)
        print(f"seeding {args.runs:,} runs across {args.workspaces} workspaces into {args.database_url}")
        _api_seed.reset_database(args.database_url)
        timings = _api_seed.seed(
            args.database_url, runs=args.runs, workspaces=args.workspaces, steps_fraction=0
        )
        for phase, seconds in timings.items():
            print(f"  {phase}: {seconds:.1f} s")

    # Settings are read once: import the app's layers only now.
    from galaxyco_ui.auth.permissions import Role, TenantContext
    from galaxyco_ui.infra.db import get_engine, session_scope
    from galaxyco_ui.runs.usage import rebuild_usage
    from galaxyco_ui.services import usage

    if not args.skip_backfill:
        t = time.perf_counter()
        with session_scope() as session:
            rows = rebuild_usage(session)
        print(
            f"backfill-usage: {rows:,} rollup rows from {args.runs:,} runs in {time.perf_counter() - t:.1f} s"
        )
        with get_engine().connect() as conn:
            conn.exec_driver_sql("ANALYZE usage_daily")

    fixture = _api_seed.load(args.database_url, sample=0)
    by_size = sorted(fixture.workspaces, key=lambda w: -w.runs)
    picks = (
        [("largest", by_size[0]), ("median", by_size[len(by_size) // 2])]
        if len(by_size) > 1
        else [("only", by_size[0])]
    )
    with session_scope() as session:
        rollup_rows = session.connection().exec_driver_sql("SELECT count(*) FROM usage_daily").scalar_one()
    print(f"{fixture.total_runs:,} runs, {len(fixture.workspaces)} workspaces, {rollup_rows:,} rollup rows")

    rng = random.Random(7)
    table = []
    for label, ws in picks:
        ctx = TenantContext(user_id=ws.owner_id, workspace_id=ws.id, role=Role.OWNER)
        options = usage.list_usage_filter_options(ctx=ctx)
        choices: list[dict[str, str]] = [{}]
        choices += [{"agent_id": o.value} for o in options.agents]
        choices += [{"member_id": o.value} for o in options.members]
        choices += [{"model": o.value} for o in options.models]
        choices += [{"trigger": o.value} for o in options.triggers]

        def report(ctx: TenantContext = ctx, choices: list[dict[str, str]] = choices) -> object:
            return usage.get_usage_report(ctx=ctx, period="90d", **rng.choice(choices))

        first = usage.get_usage_report(ctx=ctx, period="90d")
        _timed(report, 30)  # warm-up: plans cached, pages in memory
        measured = {
            "report": _timed(report, args.iterations),
            "filters": _timed(lambda ctx=ctx: usage.list_usage_filter_options(ctx=ctx), 50),
            "csv": _timed(lambda ctx=ctx: usage.export_usage_csv(ctx=ctx, period="90d"), 30),
            "agent month": _timed(
                lambda ctx=ctx, ws=ws: usage.get_agent_month_usage(ctx=ctx, agent_id=ws.agent_ids[1]), 100
            ),
        }
        print(
            f"{label} workspace: {ws.runs:,} runs, 90-day report of {first.totals.runs:,} runs "
            f"in {first.rows_total:,} rollup rows"
        )
        for name, values in measured.items():
            table.append(
                [
                    label,
                    name,
                    len(values),
                    statistics.median(values),
                    _setup.pct(values, 95),
                    max(values),
                ]
            )
    _setup.print_table(["workspace", "call", "n", "p50 ms", "p95 ms", "max ms"], table)


if __name__ == "__main__":
    main()
