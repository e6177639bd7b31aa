"""The API's interactive docs work offline: every asset comes from the app itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.e2e.conftest import shot


def test_the_api_docs_page_renders_the_operations_from_the_apps_own_assets(page, app_url):
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{app_url}/api/v1/docs")
    expect(page.get_by_role("heading", name="GalaxyCo API")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/agents/{agent_id}").first).to_be_visible()
    # The security scheme from the code, ready for a key.
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    shot(page, "api-docs")
    assert hosts == {urlsplit(app_url).netloc}, hosts
