"""tools/mcp_client.py: model-safe names, entries, one run's tools (tenant-scoped), results."""

from __future__ import annotations

import re

import mcp.types as mt

from galaxyco_ui.services import mcp_servers
from galaxyco_ui.tools import mcp_client
from galaxyco_ui.tools.base import ToolContext
from galaxyco_ui.tools.mcp_client import agent_tools, entry_for, model_name, parse_entry, result_text

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_model_names_are_valid_for_every_vendor_and_unique():
    taken = {"calculator"}
    names = [
        model_name("Local tools", "lookup", taken),
        model_name("Local tools!", "lookup", taken),
        model_name("ünïcode ☃ server", "tool.with.dots and spaces", taken),
        model_name("x" * 200, "y" * 200, taken),
        model_name("x" * 200, "y" * 200, taken),
        model_name("!!!", "???", taken),
    ]
    assert names[:2] == ["Local_tools__lookup", "Local_tools__lookup_2"]
    assert names[5] == "mcp__tool"
    assert all(VALID.match(n) for n in names), names
    assert len(set(names)) == len(names) and "calculator" not in names


def test_entries_parse_only_in_their_own_shape():
    assert parse_entry(entry_for("abc", "a:b")) == ("abc", "a:b")
    for bad in ("calculator", "mcp:", "mcp:abc", "mcp::tool", "mcp:abc:"):
        assert parse_entry(bad) is None


async def test_a_run_gets_only_its_own_workspace_s_live_mcp_tools(team, other_team, mcp_server):
    server = mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Docs", "url": mcp_server.url})
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=server.id)
    lookup = entry_for(server.id, "lookup")

    own = agent_tools(team.workspace_id, ["calculator", lookup, entry_for(server.id, "gone")])
    assert own.names == ("calculator", "Docs__lookup")
    assert own.entries == {"calculator": "calculator", "Docs__lookup": lookup}
    [spec] = own.registry.tool_specs(["Docs__lookup"])
    assert spec.description.startswith("Look up a word") and spec.parameters["required"] == ["word"]

    # Another workspace naming this server's id gets nothing from it.
    foreign = agent_tools(other_team.workspace_id, ["calculator", lookup])
    assert foreign.names == ("calculator",) and "Docs__lookup" not in foreign.registry.names

    mcp_servers.remove_mcp_server(ctx=team.admin, server_id=server.id)
    assert agent_tools(team.workspace_id, [lookup]).names == ()


def test_result_text_joins_text_and_names_other_blocks():
    result = mt.CallToolResult(
        content=[
            mt.TextContent(type="text", text="first"),
            mt.ImageContent(type="image", data="aGk=", mime_type="image/png"),
            mt.TextContent(type="text", text="second"),
        ]
    )
    assert result_text(result) == "first\n[image content not shown]\nsecond"
    structured = mt.CallToolResult(content=[], structured_content={"answer": 42})
    assert result_text(structured) == '{"answer": 42}'


async def test_a_response_larger_than_the_cap_is_cut_off_not_buffered(team, mcp_server, monkeypatch):
    server = mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Big", "url": mcp_server.url})
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=server.id)
    tools = agent_tools(team.workspace_id, [entry_for(server.id, "flood"), entry_for(server.id, "lookup")])
    monkeypatch.setattr(mcp_client, "MAX_RESPONSE_BYTES", 50_000)  # the flood answer is ~200 kB
    ctx = ToolContext(workspace_id=team.workspace_id, run_id="r", agent_id="a", user_id="u")

    flood = await tools.registry.run_tool("Big__flood", {}, ctx)
    assert flood.is_error and "more than 50,000 bytes" in flood.content and "cut off" in flood.content
    answer = await tools.registry.run_tool("Big__lookup", {"word": "small"}, ctx)
    assert not answer.is_error and answer.content == "The meaning of small is 42."
