"""Tool calls that wait for a person: wait, resume once, deny, time out, cancel, race.

Real database and queue (SAQ on Redis with TEST_REDIS_URL), the provider emulator
behind the real SDK, and the service functions the UI and the API call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select, update

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from galaxyco_ui.models import Notification, Run, ToolApproval, User, Workspace, utcnow
from galaxyco_ui.runs.events import get_event_bus, run_stream
from galaxyco_ui.services import approvals, mcp_servers, runs, workers
from galaxyco_ui.tools.mcp_client import entry_for
from tests.factories import make_agent
from tests.runs.conftest import MODEL, ROOT, events_of


def load_run(run_id: str) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


async def until_status(run_id: str, status: str, timeout: float = 15.0) -> Run:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = load_run(run_id)
        if run.status == status:
            return run
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} is {run.status}, not {status}"
        await asyncio.sleep(0.05)


async def until_told(run_id: str, status: str, timeout: float = 5.0) -> None:
    """Until the run's stream has a ``status`` event (it follows the database update)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await get_event_bus().read(run_stream(run_id), after=None)
        if any(e.type == "status" and e.data.get("status") == status for e in events):
            return
        assert asyncio.get_running_loop().time() < deadline, f"no {status} event for run {run_id}"
        await asyncio.sleep(0.02)


@pytest.fixture
def asking(wired):  # type: ignore[no-untyped-def]
    """``wired``'s team with an agent whose calculator calls wait for approval."""
    team, _ = wired
    agent = make_agent(
        team.member,
        name="Careful calc",
        provider="openai_compatible",
        model=MODEL,
        tools=["calculator", "current_time"],
        approval_tools=["calculator"],
        max_steps=5,
    )
    return team, agent


def script_one_call(emulator, answer: str = "The answer is 42.") -> None:  # type: ignore[no-untyped-def]
    emulator.enqueue(
        Script([text("Let me compute."), tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)])
    )
    emulator.enqueue(Script([text(answer), usage(30, 6)]))


async def start_waiting(team, agent, emulator) -> tuple[str, approvals.ApprovalView]:  # type: ignore[no-untyped-def]
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What is 6 times 7?")
    await until_status(view.id, "waiting_approval")
    await until_told(view.id, "waiting_approval")
    pending = approvals.get_run_approval(ctx=team.viewer, run_id=view.id)
    assert pending is not None and pending.status == "pending"
    return view.id, pending


async def test_a_call_that_needs_approval_waits_and_resumes_exactly_once_when_approved(
    asking, emulator, engine
):
    team, agent = asking
    script_one_call(emulator)
    run_id, pending = await start_waiting(team, agent, emulator)

    assert pending.tool_name == "calculator" and pending.arguments == {"expression": "6 * 7"}
    assert '"expression": "6 * 7"' in pending.arguments_json
    assert pending.can_decide is False  # the viewer's view
    waiting = load_run(run_id)
    assert waiting.heartbeat_at is not None and (waiting.input_tokens, waiting.output_tokens) == (20, 8)
    steps = runs.get_steps(ctx=team.viewer, run_id=run_id)
    assert [s.kind for s in steps] == ["model", "tool_call"]  # the call is persisted, not run
    assert len(emulator.requests) == 1
    listed = approvals.list_pending_approvals(ctx=team.viewer)
    assert [a.id for a in listed.approvals] == [pending.id]
    assert approvals.count_pending_approvals(ctx=team.viewer) == 1
    bus_events = await get_event_bus().read(run_stream(run_id), after=None)
    statuses = [e.data for e in bus_events if e.type == "status"]
    assert statuses[-1]["status"] == "waiting_approval" and statuses[-1]["approval_id"] == pending.id
    assert statuses[-1]["tool"] == "calculator" and statuses[-1]["arguments"] == {"expression": "6 * 7"}
    with session_scope() as session:  # the members who may run agents are told; viewers are not
        told = set(
            session.exec(select(Notification.user_id).where(Notification.kind == "approval_requested")).all()
        )
    assert told == {team.owner.user_id, team.admin.user_id, team.member.user_id}

    decided = await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")
    assert decided.status == "approved" and decided.decided_by == team.admin.user_id
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    assert run.output == "The answer is 42."
    assert (run.input_tokens, run.output_tokens) == (50, 14)  # totals restored, not restarted
    steps = runs.get_steps(ctx=team.viewer, run_id=run_id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result", "model"]
    assert steps[2].content == "42" and steps[2].data["approval"] == "approved"
    assert len(emulator.requests) == 2  # one model turn after the approval: resumed once
    resumed = emulator.requests[-1].body["messages"]
    assert [m["role"] for m in resumed] == ["system", "user", "assistant", "tool"]
    assert resumed[2]["tool_calls"][0]["function"]["name"] == "calculator"
    assert resumed[3]["content"] == "42" and resumed[3]["tool_call_id"] == resumed[2]["tool_calls"][0]["id"]
    assert approvals.count_pending_approvals(ctx=team.viewer) == 0
    statuses = [e.data["status"] for e in await events_of(run_id) if e.type == "status"]
    assert statuses == ["queued", "running", "waiting_approval", "queued", "running", "succeeded"]


async def test_a_denied_call_is_not_run_and_the_model_reads_the_note(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator, answer="Understood, I will not compute it.")
    run_id, pending = await start_waiting(team, agent, emulator)

    await approvals.decide_approval(
        ctx=team.member, approval_id=pending.id, decision="deny", note="Not with this input."
    )
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    steps = runs.get_steps(ctx=team.viewer, run_id=run_id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result", "model"]
    assert steps[2].content == "A person denied this call: Not with this input."
    assert steps[2].data["is_error"] is True and steps[2].data["approval"] == "denied"
    tool_messages = [m for m in emulator.requests[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"] == "A person denied this call: Not with this input."


async def test_an_unanswered_call_is_denied_as_timed_out_by_the_sweep(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator, answer="Nobody approved.")
    run_id, pending = await start_waiting(team, agent, emulator)
    assert await approvals.expire_due_approvals() == []  # not due yet
    with session_scope() as session:
        session.exec(
            update(ToolApproval)
            .where(col(ToolApproval.id) == pending.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    await workers.recover_runs(requeue=False)  # where the lost-run sweep runs
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    decided = approvals.get_run_approval(ctx=team.viewer, run_id=run_id)
    assert decided is not None and decided.status == "expired" and decided.note == "timed out"
    steps = runs.get_steps(ctx=team.viewer, run_id=run_id)
    assert steps[2].content.startswith("A person denied this call: timed out")
    with pytest.raises(ConflictError, match="timed out"):
        await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")


async def test_a_waiting_run_can_be_cancelled_and_its_call_is_never_run(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator)
    run_id, pending = await start_waiting(team, agent, emulator)
    assert runs.get_run(ctx=team.member, run_id=run_id).can_cancel is True

    await runs.cancel_run(ctx=team.member, run_id=run_id)

    run = load_run(run_id)
    assert run.status == "cancelled" and "waited for approval" in run.error
    closed = approvals.get_run_approval(ctx=team.viewer, run_id=run_id)
    assert closed is not None and closed.status == "denied"
    with pytest.raises(ConflictError, match="already denied"):
        await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")
    await asyncio.sleep(0.3)
    assert load_run(run_id).status == "cancelled" and len(emulator.requests) == 1
    final = [e for e in await events_of(run_id) if e.type == "final"]
    assert final and final[0].data["status"] == "cancelled"


async def test_of_two_approvers_at_once_exactly_one_wins(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator)
    run_id, pending = await start_waiting(team, agent, emulator)

    outcomes = await asyncio.gather(
        approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve"),
        approvals.decide_approval(ctx=team.member, approval_id=pending.id, decision="deny", note="no"),
        return_exceptions=True,
    )

    won = [o for o in outcomes if isinstance(o, approvals.ApprovalView)]
    lost = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    with session_scope() as session:
        winner = session.get(User, won[0].decided_by)
        assert winner is not None
        verb = "approved" if won[0].status == "approved" else "denied"
        assert lost[0].message == f"This call was already {verb} by {winner.name}."
    run = await engine(run_id)
    assert run.status == "succeeded", run.error
    steps = runs.get_steps(ctx=team.viewer, run_id=run_id)
    assert [s.kind for s in steps] == ["model", "tool_call", "tool_result", "model"]  # one result
    assert len(emulator.requests) == 2


async def test_calls_after_the_approved_one_run_and_each_asks_again_if_it_must(asking, emulator, engine):
    team, agent = asking
    emulator.enqueue(
        Script(
            [
                tool_call("calculator", {"expression": "1 + 1"}, id="call_a"),
                tool_call("current_time", {"timezone": "UTC"}, id="call_b"),
                tool_call("calculator", {"expression": "2 + 2"}, id="call_c"),
                usage(10, 5),
            ]
        )
    )
    emulator.enqueue(Script([text("2 and 4."), usage(10, 5)]))
    run_id, first = await start_waiting(team, agent, emulator)
    assert first.arguments == {"expression": "1 + 1"}

    await approvals.decide_approval(ctx=team.member, approval_id=first.id, decision="approve")
    await until_status(run_id, "waiting_approval")  # the third call asks again
    second = approvals.get_run_approval(ctx=team.member, run_id=run_id)
    assert second is not None and second.id != first.id and second.arguments == {"expression": "2 + 2"}
    await approvals.decide_approval(ctx=team.member, approval_id=second.id, decision="approve")
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    kinds = [s.kind for s in runs.get_steps(ctx=team.viewer, run_id=run_id)]
    assert kinds == ["model", *["tool_call", "tool_result"] * 3, "model"]
    assert len(emulator.requests) == 2


async def test_http_request_write_asks_only_for_methods_that_change_something(team):
    from galaxyco_ui.runs.approvals import needs_approval

    writes = ["http_request:write"]
    assert needs_approval("http_request", {"url": "https://x", "method": "POST"}, writes)
    assert needs_approval("http_request", {"url": "https://x", "method": "delete"}, writes)
    assert not needs_approval("http_request", {"url": "https://x"}, writes)
    assert not needs_approval("http_request", {"url": "https://x", "method": "HEAD"}, writes)
    assert needs_approval("http_request", {"url": "https://x"}, ["http_request"])
    with pytest.raises(ValidationError, match="does not have"):
        make_agent(team.member, tools=["calculator"], approval_tools=["http_request:write"])
    agent = make_agent(team.member, tools=["http_request"], approval_tools=["http_request:write"])
    assert agent.approval_tools == ["http_request:write"] and agent.approval_timeout_seconds == 3600


async def test_viewers_and_other_workspaces_cannot_decide(asking, other_team, emulator, engine):
    team, agent = asking
    script_one_call(emulator)
    run_id, pending = await start_waiting(team, agent, emulator)

    with pytest.raises(PermissionDeniedError):
        await approvals.decide_approval(ctx=team.viewer, approval_id=pending.id, decision="approve")
    with pytest.raises(NotFoundError):
        await approvals.decide_approval(ctx=other_team.admin, approval_id=pending.id, decision="approve")
    with pytest.raises(NotFoundError):
        approvals.get_run_approval(ctx=other_team.admin, run_id=run_id)
    assert approvals.list_pending_approvals(ctx=other_team.admin).approvals == []
    assert approvals.count_pending_approvals(ctx=other_team.admin) == 0
    with pytest.raises(ValidationError, match="2,000"):
        await approvals.decide_approval(
            ctx=team.admin, approval_id=pending.id, decision="deny", note="x" * 2001
        )
    with pytest.raises(ValidationError):
        await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="maybe")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        await approvals.decide_approval(ctx=team.admin, approval_id="\x00bad", decision="approve")
    assert load_run(run_id).status == "waiting_approval"  # nothing above decided it
    await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")
    assert (await engine(run_id)).status == "succeeded"


async def test_a_waiting_run_holds_no_concurrency_slot_and_is_never_failed_as_lost(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator)
    run_id, _ = await start_waiting(team, agent, emulator)
    with session_scope() as session:  # as if it had waited for an hour
        session.exec(
            update(Run).where(col(Run.id) == run_id).values(heartbeat_at=utcnow() - timedelta(hours=1))
        )
    failed, _ = await workers.recover_runs(requeue=False)
    assert run_id not in failed and load_run(run_id).status == "waiting_approval"
    # Shown among the runs going on, but a start still fits a limit of one run at a time.
    assert [(r.id, r.status) for r in runs.list_active_runs(ctx=team.member)] == [
        (run_id, "waiting_approval")
    ]
    with session_scope() as session:
        session.exec(
            update(Workspace)
            .where(col(Workspace.id) == team.member.workspace_id)
            .values(max_concurrent_runs=1)
        )
    started = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Another one")
    assert started.status == "queued"


def spawn_worker(log_path: Path) -> subprocess.Popen[bytes]:
    """Another ``python -m galaxyco_ui.runs.worker`` (the environment is the test's, as for ``worker_process``)."""
    env = dict(os.environ, GALAXYCO_ENV="test", PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "galaxyco_ui.runs.worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="worker processes need TEST_REDIS_URL")
async def test_a_run_waiting_when_its_worker_stops_resumes_once_on_another_worker(
    asking, emulator, worker_process, tmp_path: Path
):
    team, agent = asking
    script_one_call(emulator)
    try:
        view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What is 6 times 7?")
        await until_status(view.id, "waiting_approval", timeout=120)
        pending = approvals.get_run_approval(ctx=team.member, run_id=view.id)
        assert pending is not None
        worker_process.send_signal(signal.SIGKILL)  # nothing of the run is in any process now
        worker_process.wait(timeout=10)
        second = spawn_worker(tmp_path / "worker2.log")
        try:
            await approvals.decide_approval(ctx=team.owner, approval_id=pending.id, decision="approve")
            run = await until_status(view.id, "succeeded", timeout=120)  # a worker starts in ~5-40 s
        finally:
            second.kill()
            second.wait(timeout=10)
        assert run.output == "The answer is 42."
        kinds = [s.kind for s in runs.get_steps(ctx=team.viewer, run_id=view.id)]
        assert kinds == ["model", "tool_call", "tool_result", "model"]
        assert len(emulator.requests) == 2
    finally:
        await close_job_queue()
        await close_async_redis()


async def test_a_scheduled_run_waits_the_same_way(asking, emulator, engine):
    team, agent = asking
    script_one_call(emulator)
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Daily sum", trigger="schedule")
    await until_status(view.id, "waiting_approval")
    await until_told(view.id, "waiting_approval")
    pending = approvals.get_run_approval(ctx=team.member, run_id=view.id)
    assert pending is not None

    await approvals.decide_approval(ctx=team.member, approval_id=pending.id, decision="approve")
    run = await engine(view.id)

    assert run.status == "succeeded" and run.trigger == "schedule"
    assert len(emulator.requests) == 2


async def test_the_run_timeout_counts_executing_time_not_waiting_time(asking, emulator, engine, monkeypatch):
    monkeypatch.setenv("RUN_TIMEOUT_SECONDS", "6")
    reset_settings()
    try:
        team, agent = asking
        script_one_call(emulator)
        run_id, pending = await start_waiting(team, agent, emulator)
        executed = float(load_run(run_id).meta["active_seconds"])
        assert 0 < executed < 6
        await asyncio.sleep(6.5)  # longer than the whole timeout, spent waiting

        await approvals.decide_approval(ctx=team.member, approval_id=pending.id, decision="approve")
        run = await engine(run_id)

        assert run.status == "succeeded", run.error
    finally:
        monkeypatch.undo()
        reset_settings()


async def test_an_mcp_tool_marked_ask_before_running_waits_under_its_entry(
    wired, emulator, engine, mcp_server
):
    team, _ = wired
    server = mcp_servers.register_mcp_server(
        ctx=team.admin, data={"name": "Test tools", "url": mcp_server.url}
    )
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=server.id)
    entry = entry_for(server.id, "lookup")
    agent = make_agent(
        team.member,
        provider="openai_compatible",
        model=MODEL,
        tools=[entry],
        approval_tools=[entry],
        max_steps=4,
    )
    emulator.enqueue(Script([tool_call("Test_tools__lookup", {"word": "galaxy"}), usage(20, 8)]))
    emulator.enqueue(Script([text("Galaxy means 42."), usage(30, 6)]))

    run_id, pending = await start_waiting(team, agent, emulator)
    assert pending.tool_name == "Test_tools__lookup" and pending.arguments == {"word": "galaxy"}
    await approvals.decide_approval(ctx=team.member, approval_id=pending.id, decision="approve")
    run = await engine(run_id)

    assert run.status == "succeeded", run.error
    result = [s for s in runs.get_steps(ctx=team.viewer, run_id=run_id) if s.kind == "tool_result"][0]
    assert result.content == "The meaning of galaxy is 42." and result.data["approval"] == "approved"
