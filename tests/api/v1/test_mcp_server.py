"""/api/v1/mcp through the ``mcp`` package's own client, over a real socket (uvicorn).

Agents are tools (scoped by the key), a call is a run with trigger "mcp" whose final answer
is the result, progress notifications arrive while it streams, failures are ``isError``
results, a cancelled call cancels its run, ``knowledge_search`` answers numbered passages,
and no key, a bad key or a revoked key is a 401 problem. Both protocol eras are covered:
``ClientSession`` speaks the initialize handshake, ``Client`` (mode "auto") the
per-request protocol of 2026-07-28.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlmodel import col, select

from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.runs import store
from galaxyco_ui.services import api_keys, approvals, knowledge
from galaxyco_ui.services import budgets as budget_service
from galaxyco_ui.services import usage as usage_service
from galaxyco_ui.services.mcp_endpoint import KNOWLEDGE_SEARCH, agent_tool_names
from tests.api.v1.conftest import bearer, make_key, refused_callers
from tests.api.v1.run_fixtures import close_clients, insert_run, served, wire_agent
from tests.factories import Team, make_agent

PROBLEM = "application/problem+json"
ANSWER = "Forty-two, as computed."
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.fixture(autouse=True)
async def _clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@contextlib.asynccontextmanager
async def session(
    base: str, secret: str, *, statuses: list[int] | None = None
) -> AsyncIterator[ClientSession]:
    """A handshake-era MCP session (``initialize`` first) with the key as bearer token.

    ``statuses`` collects the HTTP status of every response the client receives.
    """

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(headers=bearer(secret), timeout=30, event_hooks={"response": [record]}) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as mcp_session,
    ):
        await mcp_session.initialize()
        yield mcp_session


@contextlib.asynccontextmanager
async def client(base: str, secret: str) -> AsyncIterator[Client]:
    """A ``Client`` in mode "auto": ``server/discover`` first, so the 2026-07-28 protocol."""
    async with (
        httpx2.AsyncClient(headers=bearer(secret), timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as mcp_client,
    ):
        yield mcp_client


def runs_of(workspace_id: str) -> list[Run]:
    with session_scope() as db:
        return list(
            db.exec(select(Run).where(Run.workspace_id == workspace_id).order_by(col(Run.created_at))).all()
        )


def tool_of(agent_id: str, name: str) -> str:
    return agent_tool_names([(agent_id, name)])[0]


# ---------------------------------------------------------------- listing tools


async def test_tools_are_the_agents_a_key_may_run_and_knowledge_search(team, other_team, emulator):
    calc = wire_agent(team, emulator, name="Calc", description="Adds up numbers.")
    odd = make_agent(team.admin, name="Ünïcode & spaces / bot", description="")
    make_agent(other_team.owner, name="Foreign agent")
    knowledge.create_collection(ctx=team.owner, data={"name": "Handbook"})

    async with served() as base, client(base, make_key(team, "member")) as mcp:
        listed = (await mcp.list_tools()).tools
        assert mcp.protocol_version == "2026-07-28"  # the per-request era
        print(
            "PV",
            mcp.session.protocol_version if hasattr(mcp.session, "protocol_version") else dir(mcp.session),
        )

    by_name = {tool.name: tool for tool in listed}
    assert list(by_name) == [tool_of(calc.id, "Calc"), tool_of(odd.id, odd.name), KNOWLEDGE_SEARCH]
    assert all(TOOL_NAME.match(name) for name in by_name)
    assert tool_of(calc.id, "Calc") == f"Calc_{calc.id[:8]}"
    assert tool_of(odd.id, odd.name) == f"n_code_spaces_bot_{odd.id[:8]}"
    agent_tool = by_name[tool_of(calc.id, "Calc")]
    assert (agent_tool.title, agent_tool.description) == ("Calc", "Adds up numbers.")
    assert agent_tool.input_schema["required"] == ["input"]
    assert agent_tool.input_schema["properties"]["input"]["type"] == "string"
    assert "Ünïcode & spaces / bot" in by_name[tool_of(odd.id, odd.name)].description  # no description
    search = by_name[KNOWLEDGE_SEARCH]
    assert "“Handbook”" in (search.description or "")
    assert search.input_schema["properties"]["top_k"]["maximum"] == 20
    assert search.annotations is not None and search.annotations.read_only_hint is True


async def test_a_viewer_key_gets_knowledge_search_only_and_cannot_call_an_agent(team, emulator):
    calc = wire_agent(team, emulator)
    async with served() as base, session(base, make_key(team, "viewer")) as mcp:
        listed = [tool.name for tool in (await mcp.list_tools()).tools]
        assert mcp.protocol_version == "2025-11-25"  # the handshake era
        result = await mcp.call_tool(tool_of(calc.id, calc.name), {"input": "2 + 2?"})
    assert listed == [KNOWLEDGE_SEARCH]
    assert result.is_error and result.content[0].text == "This API key's role (viewer) may not run agents."
    assert runs_of(team.workspace_id) == []


def test_tool_names_stay_unique_and_valid_for_any_agent_name():
    long_name = "x" * 200
    agents = [
        ("aaaaaaaa" + "1" * 24, "Same"),
        ("aaaaaaaa" + "2" * 24, "Same"),
        ("bbbbbbbb" + "3" * 24, long_name),
        ("cccccccc" + "4" * 24, "💥"),
    ]
    names = agent_tool_names(agents)
    assert len(set(names)) == 4 and all(TOOL_NAME.match(name) for name in names)
    assert names[0] == f"Same_{agents[0][0]}"  # the short ids collide: the whole id
    assert names[2] == "x" * 55 + "_bbbbbbbb" and len(names[2]) == 64
    assert names[3] == "agent_cccccccc"


# ---------------------------------------------------------------- calling an agent


async def test_an_agent_call_is_an_mcp_run_answering_with_progress_while_it_streams(team, emulator, engine):
    calc = wire_agent(team, emulator)
    emulator.enqueue(Script.slow("word " * 12, tokens_per_second=24))
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, _total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with served() as base, session(base, make_key(team, "member")) as mcp:
        result = await mcp.call_tool(
            tool_of(calc.id, calc.name), {"input": "Talk"}, progress_callback=on_progress
        )

    (run,) = runs_of(team.workspace_id)
    assert (run.trigger, run.status, run.input, run.agent_id) == ("mcp", "succeeded", "Talk", calc.id)
    assert not result.is_error
    assert result.content[0].text == run.output and run.output.startswith("word word")
    assert result.meta == {"galaxyco/run_id": run.id}
    assert run.created_by == team.admin.user_id  # the key's creator (make_key: the admin)
    values = [value for value, _message in progress]
    assert values == sorted(values) and len(set(values)) == len(values)
    messages = [message or "" for _value, message in progress]
    assert messages[0] == "Running Calc…"
    texts = messages[1:]
    assert len(texts) >= 2, messages  # the text arrived in pieces while the run streamed
    assert all(run.output.startswith(t) for t in texts) and len(texts[0]) < len(texts[-1])


async def test_a_call_without_a_progress_token_gets_the_answer_alone(team, emulator, engine):
    calc = wire_agent(team, emulator)
    emulator.enqueue(Script([text(ANSWER), usage(10, 4)]))
    async with served() as base, client(base, make_key(team, "admin")) as mcp:
        result = await mcp.call_tool(tool_of(calc.id, calc.name), {"input": "6 times 7?"})
    (run,) = runs_of(team.workspace_id)
    assert (result.is_error, result.content[0].text) == (False, ANSWER)
    assert (run.trigger, run.input_tokens, run.output_tokens) == ("mcp", 10, 4)


async def test_a_failing_run_is_an_error_result_with_the_runs_error(team, emulator, engine):
    calc = wire_agent(team, emulator)
    emulator.enqueue(Script.error(401))  # the provider refuses the workspace's key
    async with served() as base, session(base, make_key(team, "member")) as mcp:
        result = await mcp.call_tool(tool_of(calc.id, calc.name), {"input": "hi"})
    (run,) = runs_of(team.workspace_id)
    assert run.status == "failed" and run.error
    assert result.is_error and result.content[0].text == run.error
    assert result.meta == {"galaxyco/run_id": run.id}


async def test_a_start_refused_by_a_budget_or_bad_input_is_an_error_result(team, emulator):
    calc = wire_agent(team, emulator)
    name = tool_of(calc.id, calc.name)
    async with served() as base, session(base, make_key(team, "member")) as mcp:
        blank = await mcp.call_tool(name, {"input": "   "})
        not_text = await mcp.call_tool(name, {"input": 42})
        unknown = await mcp.call_tool("No_such_agent_00000000", {"input": "hi"})
        budget_service.set_budget(ctx=team.owner, scope="workspace", monthly_usd="1")
        spent_id = insert_run(team.member, calc.id, input="x")
        store.finish_run(spent_id, status="succeeded", cost_usd=Decimal("1.5"))
        over_budget = await mcp.call_tool(name, {"input": "hi"})

    assert blank.is_error and blank.content[0].text == "Write what the agent should do."
    assert not_text.is_error and "as a string" in not_text.content[0].text
    assert unknown.is_error and unknown.content[0].text == "The tool “No_such_agent_00000000” was not found."
    assert over_budget.is_error
    assert over_budget.content[0].text.startswith("The workspace's monthly budget of $1.00 is used up")
    assert [r.id for r in runs_of(team.workspace_id)] == [spent_id]  # nothing started


async def test_cancelling_the_call_cancels_the_run(team, emulator, engine):
    calc = wire_agent(team, emulator)
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    started = anyio.Event()

    async def on_progress(_value: float, _total: float | None, message: str | None) -> None:
        if message and message.startswith("word"):
            started.set()

    async def call(mcp: ClientSession) -> None:
        await mcp.call_tool(tool_of(calc.id, calc.name), {"input": "Talk"}, progress_callback=on_progress)

    async with (
        served() as base,
        session(base, make_key(team, "member")) as mcp,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(call, mcp)
        with anyio.fail_after(10):
            await started.wait()
        (run,) = runs_of(team.workspace_id)
        assert run.status == "running"
        tg.cancel_scope.cancel()  # the client gives up on the call

    ended = await engine(run.id, timeout=10)
    assert ended.status == "cancelled", ended.error


async def test_a_call_whose_run_waits_for_an_approval_answers_once_a_person_approves(team, emulator, engine):
    asking = wire_agent(team, emulator, name="Careful calc", approval_tools=["calculator"])
    emulator.enqueue(Script([text("Let me compute."), tool_call("calculator", {"expression": "6 * 7"})]))
    emulator.enqueue(Script([text("The answer is 42.")]))
    messages: list[str] = []
    waiting = anyio.Event()

    async def on_progress(_value: float, _total: float | None, message: str | None) -> None:
        messages.append(message or "")
        if message == "Waiting for a person to approve the tool calculator…":
            waiting.set()

    async with (
        served() as base,
        session(base, make_key(team, "member")) as mcp,
        anyio.create_task_group() as tg,
    ):
        results = []

        async def call() -> None:
            name = tool_of(asking.id, asking.name)
            results.append(await mcp.call_tool(name, {"input": "6 times 7?"}, progress_callback=on_progress))

        tg.start_soon(call)
        with anyio.fail_after(15):
            await waiting.wait()
        (run,) = runs_of(team.workspace_id)
        pending = approvals.get_run_approval(ctx=team.admin, run_id=run.id)
        assert run.status == "waiting_approval" and pending is not None
        await approvals.decide_approval(ctx=team.admin, approval_id=pending.id, decision="approve")

    (result,) = results
    assert (result.is_error, result.content[0].text) == (False, "The answer is 42.")
    assert (await engine(run.id)).status == "succeeded"
    assert "Calling the tool calculator…" in messages


async def test_revoking_the_key_during_a_call_ends_it_and_cancels_the_run(team, emulator, engine):
    calc = wire_agent(team, emulator)
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    secret = make_key(team, "member")
    started = anyio.Event()

    async def on_progress(_value: float, _total: float | None, message: str | None) -> None:
        if message and message.startswith("word"):
            started.set()

    async with served() as base, session(base, secret) as mcp, anyio.create_task_group() as tg:
        results = []

        async def call() -> None:
            name = tool_of(calc.id, calc.name)
            results.append(await mcp.call_tool(name, {"input": "Talk"}, progress_callback=on_progress))

        tg.start_soon(call)
        with anyio.fail_after(10):
            await started.wait()
        api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)

    (result,) = results
    assert result.is_error and "revoked" in result.content[0].text
    (run,) = runs_of(team.workspace_id)
    assert (await engine(run.id, timeout=10)).status == "cancelled"


# ---------------------------------------------------------------- knowledge search


async def _document(team: Team, collection_id: str, name: str, body: bytes, ingested) -> None:  # type: ignore[no-untyped-def]
    outcome = await knowledge.upload_item(
        ctx=team.member, collection_id=collection_id, filename=name, source=io.BytesIO(body)
    )
    assert (await ingested(outcome.item.id)).status == "ready"


async def test_knowledge_search_answers_numbered_passages_with_their_documents(team, other_team, ingested):
    handbook = knowledge.create_collection(ctx=team.owner, data={"name": "Handbook"}).id
    other = knowledge.create_collection(ctx=team.owner, data={"name": "Other"}).id
    foreign = knowledge.create_collection(ctx=other_team.owner, data={"name": "Handbook"}).id
    await _document(
        team, handbook, "parking.md", b"# Parking\n\nParking permits are renewed every March.", ingested
    )
    await _document(
        team, other, "leave.md", b"# Leave\n\nParking near the office is free in August.", ingested
    )
    await _document(other_team, foreign, "secret.md", b"# Parking\n\nForeign parking secrets.", ingested)

    async with served() as base, session(base, make_key(team, "viewer")) as mcp:
        everywhere = await mcp.call_tool(KNOWLEDGE_SEARCH, {"query": "parking"})
        one = await mcp.call_tool(
            KNOWLEDGE_SEARCH, {"query": "parking", "collection": "handbook", "top_k": 1}
        )
        by_id = await mcp.call_tool(KNOWLEDGE_SEARCH, {"query": "parking", "collection": other})
        too_many = await mcp.call_tool(KNOWLEDGE_SEARCH, {"query": "parking", "top_k": 21})
        missing = await mcp.call_tool(KNOWLEDGE_SEARCH, {"query": "parking", "collection": foreign})
        nothing = await mcp.call_tool(KNOWLEDGE_SEARCH, {"query": "zeppelin"})

    found = everywhere.content[0].text
    assert not everywhere.is_error
    assert found.startswith("[1] ") and "\n\n[2] " in found and "[3]" not in found
    assert "parking.md (collection Handbook)" in found and "leave.md (collection Other)" in found
    assert "Foreign" not in found and "secret.md" not in found
    assert one.content[0].text.startswith("[1] parking.md (collection Handbook)\nParking\n")
    assert "[2]" not in one.content[0].text
    assert by_id.content[0].text.startswith("[1] leave.md (collection Other)")
    assert too_many.is_error and too_many.content[0].text == "Ask for 1 to 20 passages."
    assert missing.is_error and missing.content[0].text.endswith("was not found.")
    assert (nothing.is_error, nothing.content[0].text) == (False, "No passages match that query.")


# ---------------------------------------------------------------- authentication


async def test_no_key_a_bad_key_or_a_revoked_or_expired_key_is_a_401_problem(api, team):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    callers = refused_callers(team)
    accept = {"Accept": "application/json, text/event-stream"}
    for who, headers in callers.items():
        for method in ("POST", "GET", "DELETE"):
            response = await api.request(method, "/mcp", json=initialize, headers={**headers, **accept})
            assert response.status_code == 401, (who, method, response.text)
            assert response.headers["content-type"] == PROBLEM, (who, method)
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_mcp_client_is_refused_once_its_key_is_revoked(team, emulator):
    wire_agent(team, emulator)
    secret = make_key(team, "member")
    async with served() as base:
        async with session(base, secret) as mcp:
            assert len((await mcp.list_tools()).tools) == 2
        api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
        statuses: list[int] = []
        with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap its MCPError
            async with session(base, secret, statuses=statuses) as mcp:
                await mcp.list_tools()
    assert statuses == [401]  # the first request (initialize) was refused, nothing else was sent
    assert refused.group_contains(MCPError)


async def test_the_endpoint_is_not_in_the_openapi_document_but_is_named_in_its_description(api):
    spec = (await api.get("/openapi.json")).json()
    assert not any(path.startswith("/mcp") for path in spec["paths"])
    assert "/api/v1/mcp" in spec["info"]["description"]


async def test_get_and_delete_with_a_key_are_405_the_server_being_stateless(api, team):
    headers = {**bearer(make_key(team, "member")), "Accept": "text/event-stream, application/json"}
    for method in ("GET", "DELETE"):
        response = await api.request(method, "/mcp", headers=headers)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["content-type"] == PROBLEM and response.headers["allow"] == "POST"


async def test_mcp_is_a_trigger_named_in_the_usage_filters(team):
    labels = {o.value: o.label for o in usage_service.list_usage_filter_options(ctx=team.viewer).triggers}
    assert (labels["mcp"], labels["api"]) == ("MCP", "API")
