"""Settings → Tools as the browser drives it: add a server (its tools are listed at once),
a refused URL keeps the form and says why under the field, refresh and remove; the
agent editor offers the server's tools and saves the checked ones."""

from __future__ import annotations

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.services import agents
from galaxyco_ui.states.agents import MCP_TOOL_FIELD, AgentEditorState
from galaxyco_ui.states.mcp_servers import McpServersState
from tests.factories import agent_data, make_user, sign_in_as
from tests.states.harness import Hub


async def test_an_admin_adds_refreshes_and_removes_a_server(hub: Hub, mcp_server):
    signed_in = sign_in_as(make_user())
    owner = hub.browser(session_token=signed_in.token).at("/settings")
    await owner.send(McpServersState.load)
    assert (await owner.state(McpServersState)).can_manage

    await owner.send(
        McpServersState.register,
        form={"name": "Local tools", "transport": "http", "url": "http://10.9.9.9/mcp", "token": "t0ken"},
    )
    state = await owner.state(McpServersState)
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=10.9.9.9:80" in state.errors["url"]
    assert state.servers == [] and state.form_key == 0  # the typed form stays

    await owner.send(
        McpServersState.register,
        form={"name": "Local tools", "transport": "http", "url": mcp_server.url, "token": "t0ken"},
    )
    state = await owner.state(McpServersState)
    assert state.errors == {} and state.form_key == 1 and not state.adding
    [server] = state.servers
    assert {t.name for t in server.tools} == {"lookup", "explode", "hang", "flood"}
    assert server.headers_set and "t0ken" not in "\n".join(owner.received())
    assert "4 tools" in "\n".join(owner.received())

    await owner.send(McpServersState.refresh, server_id=server.id)
    assert (await owner.state(McpServersState)).servers[0].tools_refreshed_at is not None

    editor = hub.browser(session_token=signed_in.token).at("/agents/new")
    await editor.send(AgentEditorState.load)
    catalog = (await editor.state(AgentEditorState)).mcp_catalog
    assert [s.name for s in catalog] == ["Local tools"]
    lookup = next(t for t in catalog[0].tools if t.name == "lookup")
    form = {**agent_data(name="With MCP"), "tool_calculator": "on", MCP_TOOL_FIELD + lookup.entry: "on"}
    form.pop("tools", None)
    await editor.send(AgentEditorState.save, form_data={k: str(v) for k, v in form.items()})
    assert (await editor.state(AgentEditorState)).errors == {}

    await owner.send(McpServersState.remove, server_id=server.id)
    assert (await owner.state(McpServersState)).servers == []
    auth = signed_in.auth
    assert auth.workspace_id and auth.role
    ctx = TenantContext(user_id=auth.user_id, workspace_id=auth.workspace_id, role=auth.role)
    saved = [a for a in agents.list_agents(ctx=ctx) if a.name == "With MCP"]
    assert saved and saved[0].tools == sorted(["calculator", lookup.entry])
