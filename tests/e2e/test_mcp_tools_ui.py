"""An agent that uses a local MCP server's tool, as users set it up: Settings → Tools adds
the server (its tools are listed), the agent form enables one, a run calls it and its
tool card shows the server's answer; the server is renamed in its Edit dialog and the agent
keeps its tool; a member reads the list but cannot change it."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Workspace
from tests.e2e.conftest import shot
from tests.e2e.helpers import PASSWORD, sign_in, sign_up, wait_for_shell
from tests.factories import add_member, make_user
from tests.mcp_server import SECURE_TOKEN


def test_admin_adds_an_mcp_server_and_an_agent_run_calls_its_tool(new_context, emulator, mcp_server):
    owner = new_context().new_page()
    sign_up(owner, name="Mae Jemison", email="mae@example.com")
    wait_for_shell(owner)

    owner.get_by_role("link", name="Settings").click()
    owner.get_by_label("API key for OpenAI-compatible").fill("e2e-secret-key-5678")
    owner.get_by_label("Base URL for OpenAI-compatible").fill(emulator.openai_base_url)
    owner.get_by_role("button", name="Save OpenAI-compatible key").click()
    expect(owner.get_by_text("••••5678")).to_be_visible()

    # Settings → Tools: a wrong token is refused by the server, and the card says so.
    tools = owner.locator("#tools")
    tools.get_by_label("Name").fill("Local tools")
    tools.get_by_label("Server URL (Streamable HTTP)").fill(mcp_server.secure_url)
    tools.get_by_label("Bearer token (optional)").fill("not-the-token")
    tools.get_by_role("button", name="Add MCP server").click()
    expect(tools.get_by_text(re.compile("refused the credentials \\(HTTP 401\\)")).first).to_be_visible(
        timeout=15_000
    )
    owner.get_by_role("button", name="Remove the MCP server Local tools").click()
    owner.get_by_role("button", name="Remove server").click()
    expect(tools.get_by_text("No MCP servers yet.")).to_be_visible()

    tools.get_by_label("Name").fill("Local tools")
    tools.get_by_label("Server URL (Streamable HTTP)").fill(mcp_server.secure_url)
    tools.get_by_label("Bearer token (optional)").fill(SECURE_TOKEN)
    tools.get_by_role("button", name="Add MCP server").click()
    server = owner.get_by_role("group", name="MCP server Local tools")
    expect(server.get_by_text("4 tools")).to_be_visible(timeout=15_000)
    expect(server.get_by_text("Credentials set")).to_be_visible()
    expect(server.get_by_text("lookup", exact=True)).to_be_visible()
    assert SECURE_TOKEN not in owner.content()
    shot(owner, "80-settings-mcp-tools")

    # An agent with the server's lookup tool.
    owner.goto("/agents/new")
    owner.get_by_label("Name", exact=True).fill("Dictionary")
    owner.get_by_label("Provider").select_option("openai_compatible")
    owner.get_by_label("Model").fill("llama3.1")
    picker = owner.locator("#agent-mcp-tools")
    expect(picker.get_by_text("Local tools")).to_be_visible()
    picker.get_by_label(re.compile("^lookup")).check()
    owner.get_by_role("button", name="Create agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    expect(owner.locator("#agent-mcp-tools").get_by_label(re.compile("^lookup"))).to_be_checked()
    agent_url = owner.url

    # Run it: the model calls the MCP tool; the tool card shows the server's answer.
    emulator.enqueue(Script([tool_call("Local_tools__lookup", {"word": "galaxy"}), usage(30, 9)]))
    emulator.enqueue(Script([text("Galaxy means 42, says the dictionary."), usage(50, 10)]))
    owner.get_by_label("Input", exact=True).fill("What does galaxy mean?")
    owner.get_by_role("button", name="Run", exact=True).click()
    expect(owner).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    expect(owner.get_by_text("succeeded").first).to_be_visible(timeout=20_000)
    expect(owner.locator("#run-timeline")).to_contain_text("Galaxy means 42, says the dictionary.")
    owner.get_by_text("Tool: ").click()
    expect(owner.locator("#run-timeline")).to_contain_text("Local_tools__lookup")
    expect(owner.locator("#run-timeline")).to_contain_text("The meaning of galaxy is 42.")
    shot(owner, "81-run-mcp-tool-card")

    # Edit the server: renamed with the token field left empty (the stored token stays, the
    # tools stay); a refused URL is named under its field and the dialog keeps it.
    owner.goto("/settings")
    owner.get_by_role("button", name="Edit the MCP server Local tools").click()
    dialog = owner.get_by_role("dialog")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("Local tools")
    expect(dialog.get_by_label("Server URL (Streamable HTTP)")).to_have_value(mcp_server.secure_url)
    expect(dialog.get_by_label("New bearer token")).to_have_value("")
    expect(dialog.get_by_label("Remove the stored token and headers")).not_to_be_checked()
    dialog.get_by_label("Server URL (Streamable HTTP)").fill("http://169.254.169.254/mcp")
    dialog.get_by_role("button", name="Save the MCP server Local tools").click()
    expect(dialog.get_by_text(re.compile("an MCP server URL can never point there"))).to_be_visible()
    dialog.get_by_label("Server URL (Streamable HTTP)").fill(mcp_server.secure_url)
    dialog.get_by_label("Name", exact=True).fill("Dictionary")
    shot(owner, "82-settings-mcp-edit-dialog")
    dialog.get_by_role("button", name="Save the MCP server Local tools").click()
    expect(owner.get_by_role("dialog")).to_have_count(0)
    server = owner.get_by_role("group", name="MCP server Dictionary")
    expect(server.get_by_text("4 tools")).to_be_visible()
    expect(server.get_by_text("Credentials set")).to_be_visible()
    expect(server.locator(".mcp-error")).to_have_count(0)
    assert SECURE_TOKEN not in owner.content()

    # The agent keeps the renamed server's tool.
    owner.goto(agent_url)
    picker = owner.locator("#agent-mcp-tools")
    expect(picker.get_by_text("Dictionary", exact=True)).to_be_visible()
    expect(picker.get_by_label(re.compile("^lookup"))).to_be_checked()

    # A member reads the server list; adding, refreshing and removing are not offered.
    with session_scope() as session:
        workspace_id = session.exec(select(Workspace.id).where(Workspace.name == "Mae's workspace")).one()
    member = make_user(
        name="Katherine Johnson", email="katherine@example.com", password=PASSWORD, personal=False
    )
    add_member(workspace_id, Role.MEMBER, user=member)
    page = new_context().new_page()
    sign_in(page, email="katherine@example.com", password=PASSWORD)
    page.goto("/settings")
    expect(page.get_by_role("group", name="MCP server Dictionary").get_by_text("4 tools")).to_be_visible()
    expect(page.get_by_text("Only admins and owners add, edit or remove MCP servers.")).to_be_visible()
    expect(page.get_by_role("button", name="Add MCP server")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove the MCP server Dictionary")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit the MCP server Dictionary")).to_have_count(0)
