"""Settings → Tools as the browser drives it: add a server (its tools are listed at once),
a refused URL keeps the form and says why under the field, refresh, edit and remove; the
agent editor offers the server's tools and saves the checked ones."""

from __future__ import annotations

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.services import agents, mcp_servers
from galaxyco_ui.states.agents import MCP_TOOL_FIELD, AgentEditorState
from galaxyco_ui.states.mcp_servers import McpServersState
from tests.factories import agent_data, make_user, sign_in_as
from tests.mcp_server import SECURE_TOKEN
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


async def test_an_admin_edits_a_server_in_its_dialog_and_hostile_arguments_change_nothing(
    hub: Hub, mcp_server, other_team
):
    signed_in = sign_in_as(make_user())
    owner = hub.browser(session_token=signed_in.token).at("/settings")
    await owner.send(McpServersState.load)
    await owner.send(
        McpServersState.register,
        form={
            "name": "Local tools",
            "transport": "http",
            "url": mcp_server.secure_url,
            "token": SECURE_TOKEN,
        },
    )
    [server] = (await owner.state(McpServersState)).servers
    assert len(server.tools) == 4 and server.headers_set

    # Another workspace's server, a made-up id, or no string at all: no dialog opens.
    foreign = mcp_servers.register_mcp_server(
        ctx=other_team.admin, data={"name": "Theirs", "url": mcp_server.url}
    )
    for hostile in (foreign.id, "0" * 32, None, 7, ["x"], {"id": server.id}):
        await owner.send(McpServersState.start_edit, server_id=hostile)
        assert (await owner.state(McpServersState)).edit_id == ""
    # Saving without an open dialog does nothing; a form that is no dict keeps the dialog.
    await owner.send(McpServersState.save_edit, form={"name": "Hijacked", "url": mcp_server.url})
    assert (await owner.state(McpServersState)).servers[0].name == "Local tools"

    await owner.send(McpServersState.start_edit, server_id=server.id)
    assert (await owner.state(McpServersState)).edit_id == server.id
    await owner.send(McpServersState.save_edit, form=["not", "a", "form"])
    state = await owner.state(McpServersState)
    assert state.edit_id == server.id and "name" in state.edit_errors and not state.saving

    # A refused URL stays in the dialog, under its field.
    await owner.send(McpServersState.save_edit, form={"name": "Dictionary", "url": "http://169.254.169.254/"})
    state = await owner.state(McpServersState)
    assert (
        state.edit_id == server.id and "url" in state.edit_errors and state.servers[0].name == "Local tools"
    )

    # Renamed, token kept (its field left empty): saved, the dialog closes, the tools stay.
    await owner.send(
        McpServersState.save_edit, form={"name": "Dictionary", "url": server.url, "token": "", "headers": ""}
    )
    state = await owner.state(McpServersState)
    assert state.edit_id == "" and state.edit_errors == {}
    [edited] = state.servers
    assert (edited.name, edited.headers_set, len(edited.tools)) == ("Dictionary", True, 4)
    assert any("success" in u and "Saved" in u and "Dictionary" in u for u in owner.received())

    # Credentials cleared: the server refuses the listing, the old tools stay and the reason shows.
    await owner.send(McpServersState.start_edit, server_id=server.id)
    await owner.send(
        McpServersState.save_edit,
        form={"name": "Dictionary", "url": server.url, "clear_credentials": "on", "token": ""},
    )
    [cleared] = (await owner.state(McpServersState)).servers
    assert not cleared.headers_set and len(cleared.tools) == 4
    assert "HTTP 401" in cleared.last_error and any(
        "error" in u and "its last tool listing failed" in u for u in owner.received()
    )
    assert SECURE_TOKEN not in "\n".join(owner.received())

    # The dialog closed by Escape or the overlay forgets which server it was.
    await owner.send(McpServersState.start_edit, server_id=server.id)
    await owner.send(McpServersState.edit_open_change, is_open=False)
    assert (await owner.state(McpServersState)).edit_id == ""
    assert mcp_servers.list_mcp_servers(ctx=other_team.admin)[0].name == "Theirs"
