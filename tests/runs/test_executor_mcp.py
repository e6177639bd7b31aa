"""MCP tools in runs: the emulated model calls a local MCP server's tools through the executor.

The real ``mcp`` client, the real OpenAI SDK against the emulator, the real database and
(with TEST_REDIS_URL) a real worker: only the model is scripted.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import mcp_servers, runs
from galaxyco_ui.tools.mcp_client import MAX_RESULT_CHARS, entry_for
from tests.factories import make_agent
from tests.mcp_server import FLOOD_CHARS
from tests.runs.conftest import MODEL


async def _agent_with(team, mcp_server, *tool_names: str, server_name: str = "Test tools"):  # type: ignore[no-untyped-def]
    server = mcp_servers.register_mcp_server(
        ctx=team.admin, data={"name": server_name, "url": mcp_server.url}
    )
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=server.id)
    entries = [entry_for(server.id, name) for name in tool_names]
    agent = make_agent(team.member, provider="openai_compatible", model=MODEL, tools=entries, max_steps=4)
    return server, agent


async def test_the_model_calls_mcp_tools_and_reads_answers_errors_and_capped_output(
    wired, emulator, engine, mcp_server
):
    team, _ = wired
    _, agent = await _agent_with(team, mcp_server, "lookup", "explode", "flood")
    emulator.enqueue(
        Script(
            [
                tool_call("Test_tools__lookup", {"word": "galaxy"}),
                tool_call("Test_tools__explode", {"reason": "testing"}),
                tool_call("Test_tools__flood", {}),
                usage(20, 8),
            ]
        )
    )
    emulator.enqueue(Script([text("Galaxy means 42."), usage(30, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What does galaxy mean?")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert run.output == "Galaxy means 42."
    offered = {t["function"]["name"]: t["function"] for t in emulator.requests[0].body["tools"]}
    assert set(offered) == {"Test_tools__lookup", "Test_tools__explode", "Test_tools__flood"}
    assert offered["Test_tools__lookup"]["description"].startswith("Look up a word")
    assert offered["Test_tools__lookup"]["parameters"]["required"] == ["word"]

    steps = runs.get_steps(ctx=team.viewer, run_id=view.id)
    results = {s.data["name"]: s for s in steps if s.kind == "tool_result"}
    answer = results["Test_tools__lookup"]
    assert answer.content == "The meaning of galaxy is 42." and answer.data["is_error"] is False
    assert (answer.data["mcp_server"], answer.data["mcp_tool"]) == ("Test tools", "lookup")
    failed = results["Test_tools__explode"]
    assert failed.data["is_error"] is True and "explode" in failed.content
    flood = results["Test_tools__flood"]
    assert len(flood.content) == MAX_RESULT_CHARS < FLOOD_CHARS
    assert flood.data["content_truncated"] is True and "truncated" in flood.content[-80:]
    sent = [m for m in emulator.requests[-1].body["messages"] if m["role"] == "tool"]
    assert sent[0]["content"] == "The meaning of galaxy is 42." and len(sent) == 3


async def test_an_mcp_tool_that_hangs_is_stopped_at_the_timeout(
    wired, emulator, engine, mcp_server, monkeypatch
):
    monkeypatch.setenv("MCP_TOOL_TIMEOUT_SECONDS", "1")
    reset_settings()
    team, _ = wired
    _, agent = await _agent_with(team, mcp_server, "hang")
    emulator.enqueue(Script([tool_call("Test_tools__hang", {}), usage(5, 5)]))
    emulator.enqueue(Script([text("The tool timed out."), usage(5, 5)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Wait for it")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    result = next(s for s in runs.get_steps(ctx=team.viewer, run_id=view.id) if s.kind == "tool_result")
    assert result.data["is_error"] is True and result.data["error"] == "timeout"
    assert "did not finish within 1 seconds" in result.content
    monkeypatch.delenv("MCP_TOOL_TIMEOUT_SECONDS")
    reset_settings()


async def test_a_removed_server_s_tools_are_neither_offered_nor_run(wired, emulator, engine, mcp_server):
    team, _ = wired
    server, agent = await _agent_with(team, mcp_server, "lookup")
    mcp_servers.remove_mcp_server(ctx=team.admin, server_id=server.id)
    emulator.enqueue(Script([tool_call("Test_tools__lookup", {"word": "x"}), usage(5, 5)]))
    emulator.enqueue(Script([text("No tool."), usage(5, 5)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Look it up")
    run = await engine(view.id)

    assert run.status == "succeeded", run.error
    assert "tools" not in emulator.requests[0].body
    result = next(s for s in runs.get_steps(ctx=team.viewer, run_id=view.id) if s.kind == "tool_result")
    assert result.data["error"] == "tool_not_enabled"


async def test_two_servers_with_one_tool_name_get_distinct_model_names(wired, emulator, engine, mcp_server):
    team, _ = wired
    first, _ = await _agent_with(team, mcp_server, "lookup", server_name="Docs")
    second = mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Docs!", "url": mcp_server.url})
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=second.id)
    agent = make_agent(
        team.member,
        provider="openai_compatible",
        model=MODEL,
        tools=[entry_for(first.id, "lookup"), entry_for(second.id, "lookup")],
    )
    emulator.enqueue(Script([text("ok"), usage(5, 5)]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="hi")).id)

    assert run.status == "succeeded", run.error
    names = sorted(t["function"]["name"] for t in emulator.requests[0].body["tools"])
    assert names == ["Docs__lookup", "Docs__lookup_2"]


def _stdio_children() -> list[int]:
    """Processes of this test process running the stdio test server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
        if ppid == str(os.getpid()) and b"tests.mcp_server" in cmdline:
            found.append(int(entry.name))
    return found


async def test_a_run_calls_the_tools_of_a_stdio_server_and_a_hung_one_is_stopped(
    wired, emulator, engine, monkeypatch
):
    monkeypatch.setenv("MCP_ALLOW_STDIO", "true")
    monkeypatch.setenv("MCP_TOOL_TIMEOUT_SECONDS", "15")  # a cold Python start takes seconds on a busy box
    reset_settings()
    team, _ = wired
    data = {"name": "Local", "transport": "stdio", "command": f"{sys.executable} -m tests.mcp_server"}
    server = mcp_servers.register_mcp_server(ctx=team.admin, data=data)
    assert (await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=server.id)).last_error == ""
    entries = [entry_for(server.id, name) for name in ("lookup", "explode", "hang")]
    agent = make_agent(team.member, provider="openai_compatible", model=MODEL, tools=entries, max_steps=4)
    emulator.enqueue(
        Script(
            [
                tool_call("Local__lookup", {"word": "stdio"}),
                tool_call("Local__explode", {"reason": "on purpose"}),
                tool_call("Local__hang", {}),
                usage(20, 8),
            ]
        )
    )
    emulator.enqueue(Script([text("Stdio means 42."), usage(30, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="What does stdio mean?")
    run = await engine(view.id, timeout=90)

    assert run.status == "succeeded", run.error
    assert run.output == "Stdio means 42."
    steps = runs.get_steps(ctx=team.viewer, run_id=view.id)
    calls = {s.data["name"]: s for s in steps if s.kind == "tool_call"}
    assert set(calls) == {"Local__lookup", "Local__explode", "Local__hang"}
    results = {s.data["name"]: s for s in steps if s.kind == "tool_result"}
    answer = results["Local__lookup"]
    assert answer.content == "The meaning of stdio is 42." and answer.data["is_error"] is False
    assert (answer.data["mcp_server"], answer.data["mcp_tool"]) == ("Local", "lookup")
    failed = results["Local__explode"]
    assert failed.data["is_error"] is True and "explode" in failed.content
    hung = results["Local__hang"]
    assert hung.data["is_error"] is True and hung.data["error"] == "timeout"
    sent = [m for m in emulator.requests[-1].body["messages"] if m["role"] == "tool"]
    assert sent[0]["content"] == "The meaning of stdio is 42." and len(sent) == 3
    # Each call started its own server process; none outlives its call, the hung one included.
    for _ in range(50):
        if not _stdio_children():
            break
        await asyncio.sleep(0.1)
    assert _stdio_children() == []
    monkeypatch.delenv("MCP_ALLOW_STDIO")
    monkeypatch.delenv("MCP_TOOL_TIMEOUT_SECONDS")
    reset_settings()
