"""Settings → Tools: registering MCP servers, vetting, refreshing their tools, tenancy, secrets.

The server is the local MCP server of tests/mcp_server.py (the ``mcp`` package over
Streamable HTTP on 127.0.0.1), reachable only because the fixture lists its
``host:port`` in ALLOWED_PRIVATE_PROVIDER_HOSTS, as an operator would.
"""

from __future__ import annotations

import json
import sys

import pytest
from sqlmodel import select

from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, McpServer
from galaxyco_ui.services import agents, mcp_servers
from galaxyco_ui.tools.mcp_client import HEADERS_PURPOSE, agent_tools, entry_for
from tests.factories import agent_data, make_agent
from tests.mcp_server import SECURE_TOKEN


def _register(ctx, url, **extra):  # type: ignore[no-untyped-def]
    return mcp_servers.register_mcp_server(ctx=ctx, data={"name": "Test tools", "url": url, **extra})


def _row(server_id: str) -> McpServer:
    with session_scope() as session:
        row = session.get(McpServer, server_id)
        assert row is not None
        return row


async def test_admin_registers_a_server_and_refresh_stores_its_tools(team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    assert view.tools == [] and view.tools_refreshed_at is None and not view.headers_set

    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)

    assert view.last_error == ""
    assert view.tools_refreshed_at is not None
    assert {t.name for t in view.tools} == {"lookup", "explode", "hang", "flood"}
    lookup = next(t for t in view.tools if t.name == "lookup")
    assert lookup.description.startswith("Look up a word")
    assert lookup.entry == entry_for(view.id, "lookup")
    stored = next(t for t in _row(view.id).tools if t["name"] == "lookup")
    assert stored["input_schema"]["properties"]["word"]["type"] == "string"
    assert stored["input_schema"]["required"] == ["word"]
    # Every member (viewers too) reads the list; the view never carries a secret.
    assert [s.id for s in mcp_servers.list_mcp_servers(ctx=team.viewer)] == [view.id]
    with session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.created_at)).all()]
    assert actions[-2:] == ["mcp_server.created", "mcp_server.refreshed"]


async def test_a_bearer_token_is_stored_encrypted_never_shown_and_sent(team, mcp_server):
    view = _register(team.admin, mcp_server.secure_url, token=SECURE_TOKEN, headers="X-Team: blue")
    row = _row(view.id)
    assert SECURE_TOKEN not in row.headers_encrypted and "blue" not in row.headers_encrypted
    assert json.loads(crypto.decrypt(row.headers_encrypted, purpose=HEADERS_PURPOSE)) == {
        "X-Team": "blue",
        "Authorization": f"Bearer {SECURE_TOKEN}",
    }
    assert view.headers_set and SECURE_TOKEN not in view.model_dump_json()

    refreshed = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)
    assert refreshed.last_error == "" and len(refreshed.tools) == 4
    with session_scope() as session:
        audit_text = " ".join(e.model_dump_json() for e in session.exec(select(AuditEvent)).all())
    assert SECURE_TOKEN not in audit_text


async def test_refresh_failures_are_recorded_readably_and_keep_the_last_tool_list(
    team, mcp_server, silent_server, allow_provider_hosts, monkeypatch
):
    allow_provider_hosts(mcp_server.host_port, silent_server.host_port, "127.0.0.1:9")
    wrong_token = _register(team.admin, mcp_server.secure_url, token="wrong")
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=wrong_token.id)
    assert "HTTP 401" in view.last_error and "token" in view.last_error
    assert view.tools == [] and view.tools_refreshed_at is None

    plain = mcp_servers.register_mcp_server(
        ctx=team.admin, data={"name": "Plain", "url": mcp_server.plain_url}
    )
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=plain.id)
    assert "does not answer as an MCP server" in view.last_error

    down = mcp_servers.register_mcp_server(
        ctx=team.admin, data={"name": "Down", "url": "http://127.0.0.1:9/mcp"}
    )
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=down.id)
    assert "unreachable" in view.last_error

    monkeypatch.setenv("MCP_TOOL_TIMEOUT_SECONDS", "0.5")
    reset_settings()
    silent = mcp_servers.register_mcp_server(
        ctx=team.admin, data={"name": "Silent", "url": silent_server.url}
    )
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=silent.id)
    assert view.last_error == "The MCP server did not answer within 0.5 seconds."
    monkeypatch.delenv("MCP_TOOL_TIMEOUT_SECONDS")
    reset_settings()

    # A server that listed its tools once keeps them when a later refresh fails.
    good = mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Good", "url": mcp_server.url})
    listed = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=good.id)
    allow_provider_hosts("127.0.0.1:9")  # the operator takes the allowance back
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=good.id)
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS" in view.last_error
    assert view.tools == listed.tools and view.tools_refreshed_at == listed.tools_refreshed_at


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://10.1.2.3/mcp", "ALLOWED_PRIVATE_PROVIDER_HOSTS=10.1.2.3:80"),
        ("http://127.0.0.1:8123/mcp", "ALLOWED_PRIVATE_PROVIDER_HOSTS=127.0.0.1:8123"),
        ("http://169.254.169.254/latest", "an MCP server URL can never point there"),
        ("ftp://example.com/mcp", "Only http and https"),
        ("http://user:pw@example.com/mcp", "user name or password"),
        ("", "Enter the server's Streamable HTTP URL"),
    ],
)
def test_urls_are_vetted_like_provider_base_urls(team, url, expected):
    with pytest.raises(ValidationError) as refused:
        _register(team.admin, url)
    assert expected in refused.value.field_errors["url"]
    assert mcp_servers.list_mcp_servers(ctx=team.admin) == []


def test_stdio_servers_are_refused_unless_the_operator_allows_them(team, monkeypatch):
    data = {"name": "Local", "transport": "stdio", "command": f"{sys.executable} -m tests.mcp_server"}
    with pytest.raises(ValidationError) as refused:
        mcp_servers.register_mcp_server(ctx=team.admin, data=data)
    assert "MCP_ALLOW_STDIO=true" in refused.value.field_errors["transport"]

    monkeypatch.setenv("MCP_ALLOW_STDIO", "true")
    reset_settings()
    try:
        view = mcp_servers.register_mcp_server(ctx=team.admin, data=data)
        assert view.transport == "stdio" and view.command.endswith("-m tests.mcp_server")
    finally:
        monkeypatch.delenv("MCP_ALLOW_STDIO")
        reset_settings()


async def test_a_stdio_server_lists_its_tools_when_allowed_and_stops_when_the_allowance_goes(
    team, monkeypatch
):
    monkeypatch.setenv("MCP_ALLOW_STDIO", "true")
    reset_settings()
    data = {"name": "Local", "transport": "stdio", "command": f"{sys.executable} -m tests.mcp_server"}
    view = mcp_servers.register_mcp_server(ctx=team.admin, data=data)
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)
    assert view.last_error == "" and {t.name for t in view.tools} == {"lookup", "explode", "hang", "flood"}

    monkeypatch.delenv("MCP_ALLOW_STDIO")
    reset_settings()
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)
    assert "MCP_ALLOW_STDIO=true" in view.last_error


@pytest.mark.parametrize(
    ("field", "data", "expected"),
    [
        ("name", {"name": "  "}, "Name is required"),
        ("headers", {"headers": "no colon here"}, "Name: value"),
        ("headers", {"headers": "Host: evil.example"}, "set by GalaxyCo"),
        ("headers", {"headers": "X-A: 1\nx-a: 2"}, "given twice"),
        ("headers", {"headers": "X-A: bad\x07value"}, "printable"),
        ("token", {"token": "abc", "headers": "Authorization: Basic x"}, "not both"),
        ("transport", {"transport": "carrier-pigeon"}, "Streamable HTTP or stdio"),
    ],
)
def test_bad_input_gets_a_clear_error_on_its_field(team, mcp_server, field, data, expected):
    with pytest.raises(ValidationError) as refused:
        mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Tools", "url": mcp_server.url, **data})
    assert expected in refused.value.field_errors[field]


def test_names_are_unique_per_workspace_case_insensitively(team, other_team, mcp_server):
    _register(team.admin, mcp_server.url)
    with pytest.raises(ConflictError):
        mcp_servers.register_mcp_server(ctx=team.owner, data={"name": "TEST  TOOLS", "url": mcp_server.url})
    assert _register(other_team.admin, mcp_server.url).name == "Test tools"


async def test_another_workspace_neither_sees_nor_touches_a_server(team, other_team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    assert mcp_servers.list_mcp_servers(ctx=other_team.admin) == []
    with pytest.raises(NotFoundError):
        await mcp_servers.refresh_mcp_server(ctx=other_team.admin, server_id=view.id)
    with pytest.raises(NotFoundError):
        mcp_servers.remove_mcp_server(ctx=other_team.owner, server_id=view.id)
    assert [s.id for s in mcp_servers.list_mcp_servers(ctx=team.member)] == [view.id]


async def test_removing_a_server_hides_it_and_frees_its_name(team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    mcp_servers.remove_mcp_server(ctx=team.owner, server_id=view.id)
    assert mcp_servers.list_mcp_servers(ctx=team.admin) == []
    assert _row(view.id).deleted_at is not None
    with pytest.raises(NotFoundError):
        mcp_servers.remove_mcp_server(ctx=team.owner, server_id=view.id)
    assert _register(team.admin, mcp_server.url).id != view.id


async def test_agents_enable_mcp_tools_of_their_own_workspace_only(team, other_team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)
    entry = entry_for(view.id, "lookup")
    agent = make_agent(team.member, tools=["calculator", entry])
    assert agent.tools == sorted(["calculator", entry])

    for bad in (entry_for(view.id, "no_such_tool"), entry_for("0" * 32, "lookup")):
        with pytest.raises(ValidationError) as refused:
            make_agent(team.member, tools=[bad])
        assert "no longer offered" in refused.value.field_errors["tools"]
    with pytest.raises(ValidationError):  # another workspace's server is not one of theirs
        make_agent(other_team.member, tools=[entry])
    with pytest.raises(ValidationError) as refused:
        make_agent(team.member, tools=["mcp:"])
    assert "Unknown tool" in refused.value.field_errors["tools"]


def test_an_agent_may_use_at_most_64_tools(team):
    too_many = [entry_for("s" * 8, f"tool_{n}") for n in range(65)]
    with pytest.raises(ValidationError) as refused:
        agents.create_agent(ctx=team.member, data=agent_data(tools=too_many))
    assert "at most 64 tools" in refused.value.field_errors["tools"]


# ---------------------------------------------------------------- editing


def _edit(ctx, server_id, **data):  # type: ignore[no-untyped-def]
    return mcp_servers.update_mcp_server(ctx=ctx, server_id=server_id, data=data)


def _headers(server_id: str) -> dict[str, str]:
    stored = _row(server_id).headers_encrypted
    return json.loads(crypto.decrypt(stored, purpose=HEADERS_PURPOSE)) if stored else {}


async def test_renaming_a_server_keeps_its_tools_and_the_agents_that_use_them(team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    view = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)
    refreshed_at = view.tools_refreshed_at
    agent = make_agent(team.member, tools=[entry_for(view.id, "lookup")])

    edited = await _edit(team.owner, view.id, name="Dictionary", url=mcp_server.url)

    assert edited.name == "Dictionary" and edited.tools_refreshed_at == refreshed_at  # not listed again
    assert [t.name for t in edited.tools] == [t.name for t in view.tools]
    tools = agent_tools(team.workspace_id, agents.get_agent(ctx=team.member, agent_id=agent.id).tools)
    assert tools.names == ("Dictionary__lookup",)
    agents.update_agent(
        ctx=team.member, agent_id=agent.id, data=agent_data(tools=[entry_for(view.id, "lookup")])
    )
    with session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "mcp_server.updated", AuditEvent.target_id == view.id
            )
        ).one()
    assert event.data["changed"] == ["name"] and "was “Test tools”" in event.summary

    await _edit(team.owner, view.id, name="Dictionary", url=mcp_server.url)  # nothing changed: no event
    assert (await _edit(team.owner, view.id, name="DICTIONARY", url=mcp_server.url)).name == "DICTIONARY"
    with session_scope() as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.target_id == view.id)).all()
    assert actions.count("mcp_server.updated") == 2


async def test_a_new_url_is_vetted_and_lists_the_tools_again_or_keeps_them_with_the_reason(team, mcp_server):
    view = _register(team.admin, mcp_server.url)
    listed = await mcp_servers.refresh_mcp_server(ctx=team.admin, server_id=view.id)

    with pytest.raises(ValidationError) as refused:
        await _edit(team.admin, view.id, name="Test tools", url="http://169.254.169.254/mcp")
    assert "url" in refused.value.field_errors
    assert _row(view.id).url == mcp_server.url

    edited = await _edit(team.admin, view.id, name="Test tools", url=mcp_server.plain_url)
    assert edited.url == mcp_server.plain_url
    assert "does not answer as an MCP server" in edited.last_error
    assert [t.name for t in edited.tools] == [t.name for t in listed.tools]  # the old list stays

    edited = await _edit(team.admin, view.id, name="Test tools", url=mcp_server.url)
    assert edited.last_error == "" and edited.tools_refreshed_at > listed.tools_refreshed_at  # type: ignore[operator]


async def test_credentials_are_write_only_kept_when_empty_replaced_or_cleared(team, mcp_server):
    view = _register(team.admin, mcp_server.secure_url, token=SECURE_TOKEN, headers="X-Team: blue")

    kept = await _edit(team.admin, view.id, name="Renamed", url=mcp_server.secure_url, token="", headers="")
    assert kept.headers_set and _headers(view.id) == {
        "X-Team": "blue",
        "Authorization": f"Bearer {SECURE_TOKEN}",
    }

    swapped = await _edit(team.admin, view.id, name="Renamed", url=mcp_server.secure_url, token="wrong")
    assert _headers(view.id) == {"X-Team": "blue", "Authorization": "Bearer wrong"}
    assert "refused the credentials (HTTP 401)" in swapped.last_error

    await _edit(team.admin, view.id, name="Renamed", url=mcp_server.secure_url, headers="X-Team: red")
    assert _headers(view.id) == {"X-Team": "red", "Authorization": "Bearer wrong"}

    cleared = await _edit(
        team.admin, view.id, name="Renamed", url=mcp_server.secure_url, clear_credentials="on"
    )
    assert not cleared.headers_set and _row(view.id).headers_encrypted == ""

    fixed = await _edit(team.admin, view.id, name="Renamed", url=mcp_server.secure_url, token=SECURE_TOKEN)
    assert fixed.last_error == "" and len(fixed.tools) == 4
    assert _headers(view.id) == {"Authorization": f"Bearer {SECURE_TOKEN}"}
    with session_scope() as session:
        summaries = [
            e.summary + json.dumps(e.data)
            for e in session.exec(select(AuditEvent).where(AuditEvent.target_id == view.id)).all()
        ]
    assert not any(SECURE_TOKEN in s or "wrong" in s for s in summaries)


async def test_a_url_shown_without_its_query_keeps_the_stored_query(team, mcp_server):
    view = _register(team.admin, mcp_server.url + "?key=abc")
    assert view.url == mcp_server.url

    await _edit(team.admin, view.id, name="Other name", url=view.url)

    assert _row(view.id).url == mcp_server.url + "?key=abc"


async def test_an_edit_refuses_a_taken_name_bad_headers_and_both_kinds_of_authorization(team, mcp_server):
    first = _register(team.admin, mcp_server.url)
    second = mcp_servers.register_mcp_server(ctx=team.admin, data={"name": "Second", "url": mcp_server.url})

    with pytest.raises(ConflictError):
        await _edit(team.admin, second.id, name="test TOOLS", url=mcp_server.url)
    with pytest.raises(ValidationError) as refused:
        await _edit(team.admin, second.id, name="Second", url=mcp_server.url, headers="no colon")
    assert "Name: value" in refused.value.field_errors["headers"]
    with pytest.raises(ValidationError) as refused:
        await _edit(
            team.admin, second.id, name="Second", url=mcp_server.url, token="t", headers="Authorization: x"
        )
    assert "not both" in refused.value.field_errors["token"]
    with pytest.raises(ValidationError):
        await _edit(team.admin, second.id, name="  ", url=mcp_server.url)
    assert [s.name for s in mcp_servers.list_mcp_servers(ctx=team.admin)] == ["Second", "Test tools"]
    assert first.id != second.id


@pytest.mark.parametrize("bad_id", ["0" * 32, "../x", "", None, 7, ["a"], {"id": "x"}])
async def test_an_edit_of_no_server_of_the_workspace_is_not_found(team, other_team, mcp_server, bad_id):
    view = _register(other_team.admin, mcp_server.url)
    with pytest.raises(NotFoundError):
        await _edit(team.owner, view.id, name="Mine now", url=mcp_server.url)
    with pytest.raises((NotFoundError, ValidationError)):
        await mcp_servers.update_mcp_server(ctx=team.owner, server_id=bad_id, data={"name": "X", "url": "x"})  # type: ignore[arg-type]
    mcp_servers.remove_mcp_server(ctx=other_team.admin, server_id=view.id)
    with pytest.raises(NotFoundError):
        await _edit(other_team.admin, view.id, name="Back", url=mcp_server.url)
    assert _row(view.id).name == "Test tools"


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_members_and_viewers_may_not_edit_a_server(team, mcp_server, role):
    view = _register(team.admin, mcp_server.url)
    with pytest.raises(PermissionDeniedError):
        await _edit(getattr(team, role), view.id, name="Hijacked", url=mcp_server.url)
    assert _row(view.id).name == "Test tools"
