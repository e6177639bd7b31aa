"""Workspaces as a user meets them: create, switch, rename, and read the audit log."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_up, wait_for_shell


def test_user_creates_switches_and_renames_workspaces_and_sees_it_audited(page):
    sign_up(page, name="Katherine Johnson", email="katherine@example.com")
    wait_for_shell(page)
    switcher = page.locator("#workspace-switcher")
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Katherine's workspace")

    # A second workspace; the user lands in it, with no agents.
    page.get_by_role("button", name="New workspace").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Workspace name").fill("   ")
    dialog.get_by_role("button", name="Create workspace").click()
    expect(dialog.get_by_text("Workspace name is required.")).to_be_visible()
    dialog.get_by_label("Workspace name").fill("Orbital Mechanics")
    dialog.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Orbital Mechanics")
    expect(page.get_by_text("No agents yet")).to_be_visible()

    # An agent here stays here.
    page.get_by_role("link", name="New agent").first.click()
    page.get_by_label("Name", exact=True).fill("Trajectory helper")
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    page.get_by_role("link", name="All agents").click()
    expect(page.get_by_role("link", name="Trajectory helper")).to_be_visible()

    switcher.select_option(label="Katherine's workspace")
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Katherine's workspace")
    expect(page.get_by_text("No agents yet")).to_be_visible()

    # The choice belongs to the session: it survives a reload.
    page.reload()
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Katherine's workspace")

    # Rename it in settings; the switcher follows and the audit log records it.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Workspace name", exact=True).fill("Flight Research")
    page.get_by_role("button", name="Save workspace name").click()
    expect(page.get_by_text("Workspace renamed.")).to_be_visible()
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Flight Research")
    page.get_by_role("link", name="Open the audit log").click()
    expect(page.get_by_role("cell", name=re.compile("Renamed workspace"))).to_be_visible()
    shot(page, "20-settings-audit")
