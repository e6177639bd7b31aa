"""Settings → API keys as an admin meets it: create a key, copy the secret shown once,
find it listed by its prefix, use it from an MCP client as the card says, revoke it; a
member never sees the card."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.services import api_keys
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_team, make_user

SECRET = re.compile(r"^gx_[A-Za-z0-9_-]{43}$")


def mcp_tool_names(url: str, secret: str) -> list[str]:
    """The tools an MCP client sees at ``url`` with the key (in a thread: Playwright's sync API owns this one)."""

    async def names() -> list[str]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return [tool.name for tool in (await client.list_tools()).tools]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, names()).result()


def test_admin_creates_a_key_sees_its_secret_once_and_revokes_it(new_context, app_url):
    team = make_team("Acme")
    admin = make_user(name="Grace Admin", email="grace@example.com", personal=False)
    add_member(team.workspace_id, Role.ADMIN, user=admin)
    member = make_user(name="Max Member", email="max@example.com", personal=False)
    add_member(team.workspace_id, Role.MEMBER, user=member)

    page = new_context().new_page()
    sign_in(page, email="grace@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.get_by_role("link", name="Settings").click()
    card = page.locator("#api-keys")
    expect(card.get_by_text("No API keys yet.")).to_be_visible()
    expect(card.get_by_label("Role").locator("option")).to_have_text(["Admin", "Member", "Viewer"])

    # A blank name is refused next to its field; nothing is created.
    card.get_by_role("button", name="Create API key").click()
    expect(card.get_by_text("Name is required.")).to_be_visible()

    card.get_by_label("Key name").fill("Nightly export")
    card.get_by_label("Role").select_option("viewer")
    card.get_by_role("button", name="Create API key").click()

    secret_box = page.locator("#api-key-secret")
    expect(secret_box).to_have_text(SECRET)
    secret = secret_box.inner_text().strip()
    expect(card.get_by_text("it will not be shown again")).to_be_visible()
    shot(page, "60-settings-api-key-created")

    # The secret is real: it authenticates as the admin, with the chosen role.
    ctx = api_keys.authenticate_api_key(secret)
    assert (ctx.workspace_id, ctx.user_id, ctx.role) == (team.workspace_id, admin.id, Role.VIEWER)

    # "Use with MCP clients": the endpoint and a configuration naming it, both copyable;
    # an MCP client given that address and the (viewer) key sees knowledge search only.
    endpoint = f"{app_url}/api/v1/mcp"
    expect(card.locator("#mcp-endpoint")).to_have_text(endpoint)
    config = json.loads(card.locator("#mcp-config").inner_text())
    assert config["mcpServers"]["galaxyco"]["url"] == endpoint
    card.get_by_role("button", name="Copy the MCP endpoint URL").click()
    expect(page.get_by_text("MCP endpoint URL copied.")).to_be_visible()
    expect(card.get_by_role("button", name="Copy the MCP client configuration")).to_be_visible()
    assert mcp_tool_names(endpoint, secret) == ["knowledge_search"]

    row = card.get_by_role("row").filter(has_text="Nightly export")
    expect(row.get_by_text(secret[:11] + "…")).to_be_visible()
    expect(row.get_by_text("active")).to_be_visible()
    expect(row.get_by_text("Grace Admin")).to_be_visible()

    # Shown once: after a reload only the prefix is left on the page.
    page.reload()
    expect(card.get_by_role("row").filter(has_text="Nightly export")).to_be_visible()
    expect(page.locator("#api-key-secret")).to_have_count(0)
    assert secret not in page.content()

    # Revoke, behind a confirmation; the key stops working at once.
    card.get_by_role("button", name="Revoke Nightly export").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("API key revoked.")).to_be_visible()
    row = card.get_by_role("row").filter(has_text="Nightly export")
    expect(row.get_by_text("revoked")).to_be_visible()
    expect(row.get_by_role("button", name="Revoke Nightly export")).to_have_count(0)
    with pytest.raises(AuthenticationError, match="revoked"):
        api_keys.authenticate_api_key(secret)
    shot(page, "61-settings-api-key-revoked")

    # A member's settings page has no API keys card.
    other = new_context().new_page()
    sign_in(other, email="max@example.com", password=PASSWORD)
    wait_for_shell(other)
    other.get_by_role("link", name="Settings").click()
    expect(other.get_by_role("heading", name="Providers")).to_be_visible()
    expect(other.get_by_role("heading", name="API keys")).to_have_count(0)
