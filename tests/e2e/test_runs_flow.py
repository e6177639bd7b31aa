"""Running agents as users do: a provider pointed at the emulator, a live run with a tool
card, a slow run cancelled, and a teammate watching the Runs screen update by itself."""

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


def test_owner_runs_an_agent_live_and_a_teammate_watches_the_runs_screen(new_context, emulator):
    owner = new_context().new_page()
    sign_up(owner, name="Ada Lovelace", email="ada@example.com")
    wait_for_shell(owner)

    # Settings → Providers: an OpenAI-compatible endpoint (the emulator), tested live.
    owner.get_by_role("link", name="Settings").click()
    owner.get_by_label("API key for OpenAI-compatible").fill("e2e-secret-key-1234")
    owner.get_by_label("Base URL for OpenAI-compatible").fill(emulator.openai_base_url)
    owner.get_by_role("button", name="Save OpenAI-compatible key").click()
    expect(owner.get_by_text("••••1234")).to_be_visible()
    owner.get_by_role("button", name="Test the OpenAI-compatible connection").click()
    expect(owner.get_by_text(re.compile("Connected: .* answered.")).first).to_be_visible()
    assert "e2e-secret-key-1234" not in owner.content()
    shot(owner, "40-settings-providers")

    # An agent with the calculator tool.
    owner.goto("/agents/new")
    owner.get_by_label("Name", exact=True).fill("Math helper")
    owner.get_by_label("Provider").select_option("openai_compatible")
    owner.get_by_label("Model").fill("llama3.1")
    owner.get_by_label("Calculator").check()
    owner.get_by_role("button", name="Create agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    agent_url = owner.url

    # A schedule: a wrong cron expression is explained, a right one shows its next runs.
    owner.get_by_label("Cron expression").fill("61 * * * *")
    owner.get_by_role("textbox", name="Time zone").fill("Europe/Paris")
    owner.get_by_label("Input for each run").fill("Add up the numbers of the day")
    owner.get_by_role("button", name="Add schedule").click()
    expect(owner.get_by_text("Use five fields")).to_be_visible()
    owner.get_by_label("Cron expression").fill("0 9 * * 1-5")
    owner.get_by_role("button", name="Add schedule").click()
    expect(owner.get_by_text("At 09:00 AM, Monday through Friday")).to_be_visible()
    expect(owner.get_by_text(re.compile(r"09:00 CES?T")).first).to_be_visible()
    shot(owner, "39-agent-page")

    # Run it: a tool call, then an answer streamed token by token.
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(40, 9)]))
    emulator.enqueue(
        Script([text("The answer is **42**, computed exactly."), usage(60, 12)], tokens_per_second=15)
    )
    owner.get_by_label("Input", exact=True).fill("What is 6 times 7?")
    owner.get_by_role("button", name="Run", exact=True).click()
    expect(owner).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    expect(owner.get_by_text("Tool: ")).to_be_visible()
    expect(owner.locator("#run-timeline")).to_contain_text("The answer is")
    shot(owner, "41-run-streaming")
    expect(owner.get_by_text("succeeded").first).to_be_visible(timeout=20_000)
    expect(owner.get_by_text("100 in · 21 out")).to_be_visible()
    owner.get_by_text("Tool: ").click()
    expect(owner.locator("#run-timeline")).to_contain_text("42")
    shot(owner, "42-run-done")

    # A teammate (viewer) watches the Runs screen.
    with session_scope() as session:
        workspace_id = session.exec(select(Workspace.id).where(Workspace.name == "Ada's workspace")).one()
    grace = make_user(name="Grace Hopper", email="grace@example.com", password=PASSWORD, personal=False)
    add_member(workspace_id, Role.VIEWER, user=grace)
    viewer = new_context().new_page()
    sign_in(viewer, email="grace@example.com", password=PASSWORD)
    viewer.get_by_role("link", name="Runs").click()
    expect(viewer.get_by_role("link", name="Math helper").first).to_be_visible()
    expect(viewer.get_by_text("Nothing is running in this workspace right now.")).to_be_visible()

    # The owner starts a slow run; it appears on the viewer's screen without a reload.
    emulator.enqueue(Script.slow("word " * 300, tokens_per_second=10))
    owner.goto(agent_url)
    owner.get_by_label("Input", exact=True).fill("Talk for a while")
    owner.get_by_role("button", name="Run", exact=True).click()
    expect(owner).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    expect(owner.locator("#run-timeline")).to_contain_text("word")
    expect(viewer.get_by_text("Nothing is running in this workspace right now.")).to_have_count(
        0, timeout=10_000
    )
    shot(viewer, "43-runs-live")

    # Cancel stops it; the viewer sees it end.
    owner.get_by_role("button", name="Cancel").click()
    expect(owner.get_by_text("cancelled").first).to_be_visible(timeout=5_000)
    expect(owner.get_by_text("Cancelled by a user.")).to_be_visible()
    expect(viewer.get_by_text("Nothing is running in this workspace right now.")).to_be_visible(
        timeout=10_000
    )
    expect(viewer.locator("table").get_by_text("cancelled").first).to_be_visible()
    shot(viewer, "44-runs-history")

    # Viewers can read a run but not start, cancel or retry one.
    viewer.goto(agent_url)
    expect(viewer.get_by_text("Viewers can read runs but not start them.")).to_be_visible()
    expect(viewer.get_by_role("button", name="Run", exact=True)).to_have_count(0)
