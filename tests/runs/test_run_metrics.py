"""The run engine moves the Prometheus metrics: real runs against the provider emulator."""

from __future__ import annotations

from collections.abc import Callable

from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra import metrics
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, Run
from galaxyco_ui.runs import store
from galaxyco_ui.services import provider_keys, runs
from tests.factories import Team, insert_agent, make_agent
from tests.runs.conftest import events_of


def reader() -> Callable[..., float]:
    """``value(name, **labels)`` now, and how much it moved since this call (``value.delta``)."""
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def current(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    def delta(name: str, **labels: str) -> float:
        return current(name, **labels) - before.get((name, tuple(sorted(labels.items()))), 0.0)

    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            before[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return delta


async def test_a_finished_run_counts_its_start_finish_duration_first_token_and_tokens(
    wired, emulator, engine
):
    team, agent = wired
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(30, 6)]))
    moved = reader()

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What is 6 times 7?")
    run = await engine(view.id)
    await events_of(view.id)  # the metrics are counted before the final event goes out

    assert run.status == "succeeded", run.error
    assert moved("galaxyco_runs_started_total", trigger="manual") == 1
    assert moved("galaxyco_runs_finished_total", status="succeeded") == 1
    assert moved("galaxyco_run_duration_seconds_count", status="succeeded") == 1
    assert moved("galaxyco_run_duration_seconds_sum", status="succeeded") > 0
    assert moved("galaxyco_time_to_first_token_seconds_count", provider="openai_compatible") == 2  # two turns
    assert moved("galaxyco_tokens_total", provider="openai_compatible", direction="input") == 50
    assert moved("galaxyco_tokens_total", provider="openai_compatible", direction="output") == 14
    assert moved("galaxyco_cost_usd_total", provider="openai_compatible") == 0  # unpriced model


async def test_a_priced_model_adds_its_cost(team, emulator, engine):
    provider_keys.set_provider_key(
        ctx=team.owner, provider="openai", api_key="sk-test", base_url=emulator.openai_base_url
    )
    agent = make_agent(team.owner, provider="openai", model="gpt-4.1-mini", tools=[])
    emulator.enqueue(Script([text("ok"), usage(1_000_000, 1_000_000)]))
    moved = reader()

    view = await runs.start_run(ctx=team.owner, agent_id=agent.id, input="Hi")
    run = await engine(view.id)
    await events_of(view.id)

    assert run.cost_usd is not None
    assert abs(moved("galaxyco_cost_usd_total", provider="openai") - float(run.cost_usd)) < 1e-9


async def test_provider_errors_are_counted_by_kind_for_every_attempt(wired, emulator, engine):
    team, agent = wired
    for _ in range(3):
        emulator.enqueue(Script.error(500))
    emulator.enqueue(Script.error(401))
    moved = reader()

    outage = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await engine(outage.id, timeout=30)).status == "failed"
    rejected = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    assert (await engine(rejected.id)).status == "failed"
    await events_of(rejected.id)

    assert moved("galaxyco_provider_errors_total", provider="openai_compatible", kind="unavailable") == 3
    assert moved("galaxyco_provider_errors_total", provider="openai_compatible", kind="auth") == 1
    assert moved("galaxyco_runs_finished_total", status="failed") == 2
    assert moved("galaxyco_time_to_first_token_seconds_count", provider="openai_compatible") == 0


async def test_a_run_cancelled_while_queued_counts_as_cancelled_without_a_duration(team, engine):
    run_id = _queued_run(team)  # written directly: no executor will claim it
    moved = reader()

    await runs.cancel_run(ctx=team.owner, run_id=run_id)
    await runs.cancel_run(ctx=team.owner, run_id=run_id)  # a second cancel changes nothing

    assert runs.get_run(ctx=team.owner, run_id=run_id).status == "cancelled"
    assert moved("galaxyco_runs_finished_total", status="cancelled") == 1
    assert moved("galaxyco_run_duration_seconds_count", status="cancelled") == 0


async def test_a_run_started_through_the_api_counts_under_its_trigger(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("ok"), usage(1, 1)]))
    moved = reader()

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi", trigger="api")
    await engine(view.id)
    await events_of(view.id)

    assert moved("galaxyco_runs_started_total", trigger="api") == 1
    assert moved("galaxyco_runs_started_total", trigger="manual") == 0


def _queued_run(team: Team) -> str:
    agent_id = insert_agent(team.workspace_id, created_by=team.owner.user_id)
    with session_scope() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        run = Run(
            workspace_id=team.workspace_id,
            created_by=team.owner.user_id,
            agent_id=agent_id,
            input="Later",
            agent_snapshot=store.agent_snapshot(agent),
        )
        session.add(run)
        session.flush()
        return run.id
