"""The usage rollup: what the finishing transactions add up equals a scan of ``runs``.

Runs go through the real terminal paths (``finish_run``, ``cancel_if_queued``,
``sweep_lost_runs``, a second ``finish_run`` that must not count twice) at moments
chosen near midnight in several time zones, so a run belongs to the UTC day of its
``finished_at`` whatever zone the moment was written in. The scan below reads the runs
back from the database and groups them with its own code.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, delete, select, update

from galaxyco_ui import cli
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, UsageDaily
from galaxyco_ui.models.runs import TERMINAL_STATUSES
from galaxyco_ui.models.usage import BUCKET_COLUMNS
from galaxyco_ui.runs import store
from galaxyco_ui.runs.usage import COUNTER_COLUMNS, KEY_COLUMNS, duration_bucket, rebuild_usage
from tests.factories import Team, insert_agent, make_team

ZONES = (
    "UTC",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Europe/Paris",
)
MODELS = ("gpt-4.1-mini", "claude-sonnet-4-5", "")
TRIGGERS = ("manual", "schedule", "api", "webhook")
# How a run ends: finished by its executor (with a status), cancelled while queued,
# failed by the worker-lost sweep, or never (still queued or running: not counted).
ENDINGS = (
    "succeeded",
    "failed",
    "cancelled",
    "cancel_queued",
    "worker_lost",
    "still_running",
    "still_queued",
)

run_specs = st.fixed_dictionaries(
    {
        "workspace": st.integers(0, 1),
        "agent": st.integers(0, 1),
        "member": st.integers(0, 2),  # 2: nobody (a run with no created_by)
        "model": st.sampled_from(MODELS),
        "trigger": st.sampled_from(TRIGGERS),
        "ending": st.sampled_from(ENDINGS),
        "day": st.integers(0, 3),
        "zone": st.sampled_from(ZONES),
        # Local wall-clock time around midnight: -3 s … +3 s, in microseconds.
        "edge_us": st.integers(-3_000_000, 3_000_000),
        "duration_ms": st.one_of(st.integers(0, 2_000), st.integers(0, 2_000_000)),
        "tokens_in": st.integers(0, 200_000),
        "tokens_out": st.integers(0, 50_000),
        "cost": st.one_of(st.none(), st.decimals(min_value=0, max_value=50, places=6)),
        "finish_twice": st.booleans(),
    }
)


_SPEC: dict[str, Any] = {
    "agent": 0,
    "member": 0,
    "model": "gpt-4.1-mini",
    "trigger": "manual",
    "ending": "succeeded",
    "day": 0,
    "zone": "UTC",
    "edge_us": 1,
    "duration_ms": 1500,
    "tokens_in": 10,
    "tokens_out": 5,
    "cost": Decimal("0.25"),
    "finish_twice": True,
}


def _moment(spec: dict[str, Any]) -> datetime:
    local_midnight = datetime(2026, 3, 28 + spec["day"], tzinfo=ZoneInfo(spec["zone"]))  # a DST weekend
    return local_midnight + timedelta(microseconds=spec["edge_us"])


def _play(teams: list[Team], agents: list[list[str]], spec: dict[str, Any]) -> None:
    team = teams[spec["workspace"]]
    member = [team.member, team.admin, None][spec["member"]]
    finished_at = _moment(spec)
    ending = spec["ending"]
    queued = ending in ("cancel_queued", "still_queued")
    with session_scope() as session:
        run = Run(
            workspace_id=team.workspace_id,
            created_by=member.user_id if member else None,
            agent_id=agents[spec["workspace"]][spec["agent"]],
            input="Hi",
            trigger=spec["trigger"],
            status="queued" if queued else "running",
            agent_snapshot={"model": spec["model"]},
            started_at=None if queued else finished_at - timedelta(milliseconds=spec["duration_ms"]),
            heartbeat_at=None if queued else finished_at - timedelta(hours=1),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with mock.patch.object(store, "utcnow", return_value=finished_at):
        if ending in ("succeeded", "failed", "cancelled"):
            for _ in range(2 if spec["finish_twice"] else 1):
                store.finish_run(
                    run_id,
                    status=ending,
                    input_tokens=spec["tokens_in"],
                    output_tokens=spec["tokens_out"],
                    cost_usd=spec["cost"],
                )
        elif ending == "cancel_queued":
            store.cancel_if_queued(run_id)
            store.cancel_if_queued(run_id)
        elif ending == "worker_lost":
            store.sweep_lost_runs(stale_after=timedelta(seconds=30))
            store.sweep_lost_runs(stale_after=timedelta(seconds=30))


def _scan() -> dict[tuple[str, date, str, str, str, str], dict[str, Any]]:
    """The rollup rows recomputed from the runs table, independently of runs/usage.py."""
    rows: dict[tuple[str, date, str, str, str, str], dict[str, Any]] = defaultdict(
        lambda: defaultdict(int) | {"cost_usd": Decimal(0)}  # type: ignore[operator]
    )
    with session_scope() as session:
        runs = session.exec(select(Run).where(col(Run.status).in_(TERMINAL_STATUSES))).all()
        for run in runs:
            assert run.finished_at is not None
            day = run.finished_at.astimezone(UTC).date()
            key = (
                run.workspace_id,
                day,
                run.agent_id,
                run.created_by or "",
                run.agent_snapshot.get("model", ""),
                run.trigger,
            )
            row = rows[key]
            row[f"runs_{run.status}"] += 1
            row["input_tokens"] += run.input_tokens
            row["output_tokens"] += run.output_tokens
            if run.cost_usd is None:
                row["runs_unpriced"] += 1
                row["unpriced_tokens"] += run.input_tokens + run.output_tokens
            else:
                row["cost_usd"] += Decimal(str(run.cost_usd))
            if run.started_at is not None:
                ms = max(0, (run.finished_at - run.started_at) // timedelta(milliseconds=1))
                row["duration_ms_sum"] += ms
                row["duration_runs"] += 1
                row[BUCKET_COLUMNS[duration_bucket(ms)]] += 1
    return {key: dict(row) for key, row in rows.items()}


def _rollup() -> dict[tuple[str, date, str, str, str, str], dict[str, Any]]:
    with session_scope() as session:
        stored = session.execute(select(UsageDaily.__table__)).mappings().all()  # type: ignore[attr-defined]
        return {
            tuple(row[name] for name in KEY_COLUMNS): {name: row[name] for name in COUNTER_COLUMNS}
            for row in stored
        }


def _normalised(rows: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    out = {}
    for key, row in rows.items():
        clean = {name: value for name, value in row.items() if value and name != "cost_usd"}
        clean["cost_usd"] = Decimal(str(row.get("cost_usd", 0))).quantize(Decimal("0.000001"))
        out[key] = clean
    return out


def _reset() -> None:
    with session_scope() as session:
        session.exec(delete(UsageDaily))  # type: ignore[call-overload]
        session.exec(delete(Run))  # type: ignore[call-overload]


ROLLUP_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def _setup() -> tuple[list[Team], list[list[str]]]:
    teams = [make_team("Rollup"), make_team("Other")]
    agents = [[insert_agent(t.workspace_id, created_by=t.member.user_id) for _ in range(2)] for t in teams]
    return teams, agents


def test_rollup_totals_equal_a_scan_of_runs_at_day_edges() -> None:
    teams, agents = _setup()

    @ROLLUP_SETTINGS
    @given(specs=st.lists(run_specs, min_size=1, max_size=25))
    def check(specs: list[dict[str, Any]]) -> None:
        _reset()
        for spec in specs:
            _play(teams, agents, spec)
        expected = _normalised(_scan())
        assert _normalised(_rollup()) == expected
        # The backfill rebuilds exactly the same rows, and a second run changes nothing.
        for _ in range(2):
            with session_scope() as session:
                rebuild_usage(session)
            assert _normalised(_rollup()) == expected

    check()


def test_a_run_finished_twice_counts_once_and_rebuild_for_one_workspace_keeps_the_others() -> None:
    teams, agents = _setup()
    _play(teams, agents, _SPEC | {"workspace": 0})
    _play(teams, agents, _SPEC | {"workspace": 1})
    rows = _rollup()
    assert [r["runs_succeeded"] for r in rows.values()] == [1, 1]
    with session_scope() as session:
        assert rebuild_usage(session, workspace_id=teams[0].workspace_id) == 1
    assert _rollup() == rows


def test_the_backfill_command_rebuilds_rows_lost_or_wrong_and_is_idempotent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    teams, agents = _setup()
    for day in range(3):
        _play(teams, agents, _SPEC | {"workspace": 0, "day": day, "ending": "failed"})
    expected = _rollup()
    with session_scope() as session:  # rows from before the migration: none; and a wrong one
        session.exec(delete(UsageDaily).where(col(UsageDaily.day) == date(2026, 3, 28)))  # type: ignore[call-overload]
        session.exec(update(UsageDaily).values(runs_failed=99))  # type: ignore[call-overload]
    assert _rollup() != expected
    assert cli.main(["backfill-usage"]) == 0
    assert "3 rows" in capsys.readouterr().out
    assert _rollup() == expected
    assert cli.main(["backfill-usage", "--workspace", teams[0].workspace_id]) == 0
    assert _rollup() == expected
