"""P7 data: a PostgreSQL database holding N runs across W workspaces, built in minutes.

PostgreSQL generates the runs and their steps itself (``INSERT ... SELECT`` over
``generate_series``, 100,000 rows a statement); the few thousand other rows go in through
``COPY``. Every id is the MD5 of a label (``bench-ws-7``, ``bench-run-123``) and API key
secrets are derived from the workspace id, so ``--reuse`` recomputes what it needs from
the database without a side file. Runs are terminal (nothing for a worker to pick up or
sweep), spread over 90 days, with a mild skew between workspaces (workspace k holds a
share ∝ 1/√k: the largest about 5 % of all runs, the smallest about 0.5 %).

While loading, foreign-key triggers are off for this session (``session_replication_role
= replica``: the rows are consistent by construction) and the secondary indexes of
``runs`` and ``run_steps`` are dropped and rebuilt afterwards from their own definitions,
so the schema ends exactly as the migrations made it. ``VACUUM ANALYZE`` closes the load,
as autovacuum would on a live system.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench._api_texts import ERRORS, INPUTS, INSTRUCTIONS, OUTPUTS, TOOL_RESULT

ROOT = Path(__file__).resolve().parent.parent
KEY_SEED = b"galaxyco-bench-api-latency"  # secrets are derived, never stored in clear
MEMBERS = ("owner", "admin", "member", "member", "viewer")
COLLECTIONS_PER_WORKSPACE, ITEMS_PER_COLLECTION = 4, 10
BATCH = 100_000
HISTORY_DAYS = 90

# (name, provider, model, tools, price in / out per million tokens or None = unknown).
# The first agent answers through the emulator: the bench starts its runs over the API.
AGENTS: tuple[tuple[str, str, str, list[str], float | None, float | None], ...] = (
    ("Streaming bench agent", "openai_compatible", "bench-model", [], None, None),
    ("Support triage", "openai", "gpt-4.1-mini", ["knowledge_search"], 0.40, 1.60),
    ("Lead research", "anthropic", "claude-sonnet-4-5", ["http_request", "calculator"], 3.00, 15.00),
    ("Invoice checker", "google", "gemini-2.5-flash", ["calculator"], 0.30, 2.50),
    ("Release notes writer", "openai", "gpt-4.1", ["http_request"], 2.00, 8.00),
)

# ---------------------------------------------------------------- ids and keys


def md5_id(label: str) -> str:
    """The id PostgreSQL's ``md5(label)`` gives: 32 hex characters, like ``new_id()``."""
    return hashlib.md5(label.encode()).hexdigest()


def workspace_id(w: int) -> str:
    return md5_id(f"bench-ws-{w}")


def user_id(w: int, m: int) -> str:
    return md5_id(f"bench-user-{w}-{m}")


def agent_id(w: int, a: int) -> str:
    return md5_id(f"bench-agent-{w}-{a}")


def api_secret(ws_id: str) -> str:
    """The workspace's API key (``gx_`` + 43 URL-safe characters, as the key service makes)."""
    digest = hmac.new(KEY_SEED, ws_id.encode(), hashlib.sha256).digest()
    return "gx_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def workspace_sizes(runs: int, workspaces: int) -> list[int]:
    """Runs per workspace, ∝ 1/√k, summing exactly to ``runs``."""
    weights = [1 / math.sqrt(k + 1) for k in range(workspaces)]
    total = sum(weights)
    sizes = [int(runs * w / total) for w in weights]
    sizes[0] += runs - sum(sizes)
    return sizes


# ---------------------------------------------------------------- what a bench run needs


@dataclass
class BenchWorkspace:
    index: int
    id: str
    secret: str
    owner_id: str
    agent_ids: list[str]
    runs: int = 0

    @property
    def stream_agent_id(self) -> str:
        return self.agent_ids[0]


@dataclass
class Fixture:
    workspaces: list[BenchWorkspace]
    total_runs: int
    # (workspace index, run id) of runs that have steps: what GET /runs/{id}[/steps] asks for.
    sample_runs: list[tuple[int, str]] = field(default_factory=list)


def pg_url(database_url: str) -> str:
    """A libpq URL (psycopg) from a SQLAlchemy-style or plain PostgreSQL URL."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url.removeprefix(prefix)
    return database_url


@contextmanager
def connect(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url(database_url), autocommit=True) as conn:
        yield conn


def reset_database(database_url: str) -> None:
    """Empty the public schema and run the Alembic migrations to head."""
    with connect(database_url) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    migrate(database_url)


def migrate(database_url: str) -> None:
    """Run the Alembic migrations to head (nothing to do when the schema is current): a
    reused database must have every table the app and the worker write."""
    from alembic import command, config

    cfg = config.Config(toml_file=str(ROOT / "pyproject.toml"))
    cfg.attributes["database_url"] = "postgresql+psycopg://" + pg_url(database_url).removeprefix(
        "postgresql://"
    )
    command.upgrade(cfg, "head")


# ---------------------------------------------------------------- seeding


def seed(database_url: str, *, runs: int, workspaces: int, steps_fraction: float) -> dict[str, float]:
    """Fill a freshly migrated database. Returns seconds per phase."""
    timings: dict[str, float] = {}
    sizes = workspace_sizes(runs, workspaces)
    now = datetime.now(UTC)
    with connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        t = time.perf_counter()
        _seed_tenants(conn, workspaces, now)
        timings["tenants, agents, keys, knowledge"] = time.perf_counter() - t

        # Secondary indexes only: those behind a constraint (primary key, unique) stay.
        indexes = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname IN ('runs', 'run_steps') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')

        t = time.perf_counter()
        _seed_runs(conn, sizes, now)
        timings[f"{runs:,} runs"] = time.perf_counter() - t

        t = time.perf_counter()
        steps = _seed_steps(conn, steps_fraction)
        timings[f"{steps:,} run steps"] = time.perf_counter() - t

        t = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        timings[f"{len(indexes)} secondary indexes"] = time.perf_counter() - t

        t = time.perf_counter()
        conn.execute("SET session_replication_role = origin")
        conn.execute("VACUUM ANALYZE")
        timings["VACUUM ANALYZE"] = time.perf_counter() - t
    return timings


def _seed_tenants(conn: psycopg.Connection[Any], workspaces: int, now: datetime) -> None:
    """Users (5 a workspace, one per role plus a second member), workspaces, memberships,
    agents, one admin API key each, and knowledge collections with items."""
    created = now - timedelta(days=HISTORY_DAYS + 30)
    stamp = {"metadata": "{}", "created_at": created, "updated_at": created}
    rows: dict[str, list[dict[str, Any]]] = {
        table: []
        for table in (
            "users",
            "workspaces",
            "workspace_members",
            "agents",
            "api_keys",
            "knowledge_collections",
            "knowledge_items",
        )
    }
    for w in range(1, workspaces + 1):
        ws, owner = workspace_id(w), user_id(w, 1)
        tenant = {**stamp, "workspace_id": ws, "created_by": owner}
        rows["workspaces"].append(
            {
                **stamp,
                "id": ws,
                "name": f"Bench workspace {w:03d}",
                "created_by": owner,
                "embedding_model": "",
            }
        )
        for m, role in enumerate(MEMBERS, start=1):
            uid = user_id(w, m)
            rows["users"].append(
                {
                    **stamp,
                    "id": uid,
                    "email": f"bench-user-{w}-{m}@bench.example",
                    "name": f"User {m} of workspace {w}",
                    "email_verified": True,
                    "totp_enabled": False,
                }
            )
            rows["workspace_members"].append(
                {**tenant, "id": md5_id(f"bench-member-{w}-{m}"), "user_id": uid, "role": role}
            )
        for a, (name, provider, model, tools, _, _) in enumerate(AGENTS, start=1):
            rows["agents"].append(
                {
                    **tenant,
                    "id": agent_id(w, a),
                    "name": name,
                    "description": f"{name}: an agent of the API latency benchmark.",
                    "provider": provider,
                    "model": model,
                    "instructions": INSTRUCTIONS,
                    "temperature": 0.3,
                    "max_steps": 2 if a == 1 else 8,
                    "max_output_tokens": 1024,
                    "tools": json.dumps(tools),
                    "tags": json.dumps(["bench", provider]),
                    "knowledge_collection_ids": "[]",
                }
            )
        secret = api_secret(ws)
        rows["api_keys"].append(
            {
                **tenant,
                "id": md5_id(f"bench-key-{w}"),
                "name": "Benchmark",
                "role": "admin",
                "prefix": secret[:11],
                "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
            }
        )
        for c in range(1, COLLECTIONS_PER_WORKSPACE + 1):
            cid = md5_id(f"bench-coll-{w}-{c}")
            rows["knowledge_collections"].append(
                {**tenant, "id": cid, "name": f"Handbook {c}", "description": "Policies the agents search."}
            )
            for i in range(1, ITEMS_PER_COLLECTION + 1):
                failed = i == ITEMS_PER_COLLECTION  # one failed item per collection
                rows["knowledge_items"].append(
                    {
                        **tenant,
                        "id": md5_id(f"bench-item-{w}-{c}-{i}"),
                        "collection_id": cid,
                        "name": f"policy-{c}-{i}.pdf",
                        "kind": "pdf",
                        "size_bytes": 180_000 + 977 * i,
                        "content_hash": md5_id(f"content-{w}-{c}-{i}") * 2,
                        "status": "failed" if failed else "ready",
                        "progress": 100,
                        "error": "The PDF is encrypted." if failed else "",
                        "chunk_count": 0 if failed else 40 + i,
                        "page_count": 12,
                        "char_count": 60_000,
                        "embedding_model": "",
                    }
                )
    for table, table_rows in rows.items():
        _copy(conn, table, table_rows)


def _copy(conn: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _snapshot(w: int, a: int) -> str:
    name, provider, model, tools, _, _ = AGENTS[a - 1]
    return json.dumps(
        {
            "id": agent_id(w, a),
            "name": name,
            "provider": provider,
            "model": model,
            "instructions": INSTRUCTIONS,
            "temperature": 0.3,
            "max_steps": 2 if a == 1 else 8,
            "max_output_tokens": 1024,
            "tools": tools,
            "knowledge_collection_ids": [],
        }
    )


_RUNS_SQL = """
WITH r AS MATERIALIZED (
    SELECT g,
           width_bucket(g, %(bounds)s::int[]) AS w,
           1 + floor(random() * %(agents)s)::int AS a,
           random() AS rs, random() AS rt, random() AS ri, random() AS ro,
           %(now)s::timestamptz - random() * %(days)s * interval '1 day' AS at,
           random() AS rq, random() AS rd
    FROM generate_series(%(lo)s::int, %(hi)s::int) AS g
), s AS (
    SELECT r.*,
           CASE WHEN rs < 0.90 THEN 'succeeded' WHEN rs < 0.97 THEN 'failed' ELSE 'cancelled' END AS status,
           CASE WHEN rt < 0.55 THEN 'manual' WHEN rt < 0.85 THEN 'schedule'
                WHEN rt < 0.97 THEN 'api' ELSE 'webhook' END AS trig
    FROM r
), t AS (
    SELECT s.*,
           150 + floor(ri * 3800)::int AS tin,
           CASE WHEN status = 'succeeded' THEN 40 + floor(ro * 1400)::int ELSE floor(ro * 200)::int END AS tout,
           at + (0.002 + rq * 0.03) * interval '1 second' AS started
    FROM s
)
INSERT INTO runs (metadata, created_at, updated_at, workspace_id, created_by, id, agent_id, status, trigger,
                  input, output, error, agent_snapshot, input_tokens, output_tokens, cost_usd, started_at,
                  finished_at, heartbeat_at, step_count)
SELECT '{}', t.at, t.started + (0.4 + rd * 25) * interval '1 second', m.ws_id,
       CASE WHEN trig = 'schedule' THEN NULL ELSE m.runners[1 + g %% 4] END,
       md5('bench-run-' || g), m.agent_ids[a], status, trig,
       (%(inputs)s::text[])[1 + g %% %(n_inputs)s],
       CASE WHEN status = 'succeeded' THEN (%(outputs)s::text[])[1 + (g / 7) %% %(n_outputs)s] ELSE '' END,
       CASE WHEN status = 'failed' THEN (%(errors)s::text[])[1 + (g / 3) %% %(n_errors)s]
            WHEN status = 'cancelled' THEN 'Cancelled by the user.' ELSE '' END,
       m.snaps[a], tin, tout,
       CASE WHEN m.price_in[a] IS NULL THEN NULL
            ELSE round(((tin * m.price_in[a] + tout * m.price_out[a]) / 1e6)::numeric, 6) END,
       started, started + (0.4 + rd * 25) * interval '1 second',
       started + (0.4 + rd * 25) * interval '1 second',
       CASE WHEN status = 'succeeded' THEN 4 ELSE 1 END
FROM t JOIN bench_map m ON m.idx = t.w
"""


def _seed_runs(conn: psycopg.Connection[Any], sizes: list[int], now: datetime) -> None:
    conn.execute(
        "CREATE TEMP TABLE bench_map (idx int PRIMARY KEY, ws_id text, runners text[], agent_ids text[], "
        "snaps json[], price_in float8[], price_out float8[])"
    )
    rows = []
    for w in range(1, len(sizes) + 1):
        rows.append(
            (
                w,
                workspace_id(w),
                [user_id(w, m) for m in range(1, 5)],
                [agent_id(w, a) for a in range(1, len(AGENTS) + 1)],
                [_snapshot(w, a) for a in range(1, len(AGENTS) + 1)],
                [spec[4] for spec in AGENTS],
                [spec[5] for spec in AGENTS],
            )
        )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO bench_map VALUES (%s, %s, %s, %s, %s::json[], %s, %s)", rows)
    bounds, start = [], 1
    for size in sizes:
        bounds.append(start)
        start += size
    conn.execute("SELECT setseed(0.42)")
    total = sum(sizes)
    params = {
        "bounds": bounds,
        "agents": len(AGENTS),
        "now": now,
        "days": HISTORY_DAYS,
        "inputs": list(INPUTS),
        "n_inputs": len(INPUTS),
        "outputs": list(OUTPUTS),
        "n_outputs": len(OUTPUTS),
        "errors": list(ERRORS),
        "n_errors": len(ERRORS),
    }
    for lo in range(1, total + 1, BATCH):
        t = time.perf_counter()
        conn.execute(_RUNS_SQL, {**params, "lo": lo, "hi": min(total, lo + BATCH - 1)})  # type: ignore[arg-type]
        print(
            f"  runs {min(total, lo + BATCH - 1):>9,} / {total:,}  ({time.perf_counter() - t:.1f} s)",
            flush=True,
        )
    conn.execute("DROP TABLE bench_map")


_STEPS_SQL = """
INSERT INTO run_steps (id, workspace_id, run_id, position, kind, content, data, duration_ms, created_at)
SELECT md5(r.id || '-' || p), r.workspace_id, r.id, p,
       CASE p WHEN 1 THEN 'tool_call' WHEN 2 THEN 'tool_result' ELSE 'model' END,
       CASE WHEN r.status <> 'succeeded' THEN r.error
            WHEN p = 0 THEN '' WHEN p = 1 THEN 'knowledge_search' WHEN p = 2 THEN %(tool_result)s
            ELSE r.output END,
       CASE WHEN p = 1 OR p = 2
            THEN json_build_object('id', 'call_' || left(r.id, 8), 'name', 'knowledge_search',
                                   'arguments', json_build_object('query', left(r.input, 60)))
            ELSE json_build_object('model', r.agent_snapshot ->> 'model', 'finish_reason',
                                   CASE WHEN p = 0 AND r.status = 'succeeded' THEN 'tool_calls' ELSE 'stop' END,
                                   'tool_calls', '[]'::json,
                                   'usage', json_build_object('input_tokens', r.input_tokens / 2,
                                                              'output_tokens', r.output_tokens / 2))
       END,
       50 + (p * 397 + r.input_tokens) %% 3000,
       r.started_at + p * interval '700 ms'
FROM runs r
CROSS JOIN LATERAL generate_series(0, CASE WHEN r.status = 'succeeded' THEN 3 ELSE 0 END) AS p
WHERE get_byte(decode(left(r.id, 2), 'hex'), 0) < %(threshold)s
"""


def _seed_steps(conn: psycopg.Connection[Any], fraction: float) -> int:
    """Steps for the runs whose id's first byte is below 256 * ``fraction``: 4 for a
    succeeded run (model turn with a tool call, the call, its result, the answer), 1 otherwise."""
    threshold = max(0, min(256, round(256 * fraction)))
    cur = conn.execute(_STEPS_SQL, {"tool_result": TOOL_RESULT, "threshold": threshold})
    return cur.rowcount


# ---------------------------------------------------------------- reading a seeded database


def load(database_url: str, *, sample: int = 3000) -> Fixture:
    """What the measurement needs from a seeded database: workspaces, keys, agents, and
    ``sample`` runs that have steps (chosen at random, reproducibly)."""
    with connect(database_url) as conn:
        spaces = conn.execute(
            "SELECT id, name, created_by FROM workspaces WHERE name LIKE 'Bench workspace %' ORDER BY name"
        ).fetchall()
        if not spaces:
            raise SystemExit("no benchmark data in this database: run without --reuse first")
        agents: dict[str, list[str]] = {}
        for ws, aid in conn.execute(
            "SELECT workspace_id, id FROM agents WHERE deleted_at IS NULL ORDER BY name <> %s, name",
            (AGENTS[0][0],),
        ):
            agents.setdefault(ws, []).append(aid)
        counts = dict(
            conn.execute("SELECT workspace_id, count(*) FROM runs GROUP BY workspace_id").fetchall()
        )
        workspaces = [
            BenchWorkspace(
                index=i,
                id=ws,
                secret=api_secret(ws),
                owner_id=owner,
                agent_ids=agents[ws],
                runs=counts.get(ws, 0),
            )
            for i, (ws, _, owner) in enumerate(spaces)
        ]
        index = {w.id: w.index for w in workspaces}
        conn.execute("SELECT setseed(0.7)")
        rows = conn.execute(
            "SELECT workspace_id, run_id FROM (SELECT DISTINCT workspace_id, run_id FROM run_steps) s "
            "ORDER BY random() LIMIT %s",
            (sample,),
        ).fetchall()
    return Fixture(
        workspaces=workspaces,
        total_runs=sum(w.runs for w in workspaces),
        sample_runs=[(index[ws], rid) for ws, rid in rows if ws in index],
    )
