"""Agent versions in the browser: edit an agent twice, open History, compare v1 with v3,
restore v1 (→ v4, the same configuration as v1), and follow a run's "Agent version" link."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import col, select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, AgentVersion, Run
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_up, wait_for_shell

V1 = "Greet the customer.\nAnswer **briefly**.\nSign off."
V2 = "Greet the customer.\nAnswer in detail.\nSign off."


def _configs(agent_id: str) -> list[dict]:
    with session_scope() as session:
        rows = session.exec(
            select(AgentVersion).where(AgentVersion.agent_id == agent_id).order_by(col(AgentVersion.number))
        ).all()
        return [dict(r.config) for r in rows]


def _wait_for_editor(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """The saved agent's page has loaded (its form remounts then: typing before would be lost)."""
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_role("tab", name="History")).to_be_visible()
    expect(page.get_by_text("Version 1", exact=True).first).to_be_attached()


def _wait_for_versions(page, agent_id: str, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(50):
        if len(_configs(agent_id)) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the agent has {len(_configs(agent_id))} versions, not {count}")


def test_edit_twice_compare_v1_with_v3_and_restore_v1_as_v4(new_context):
    page = new_context().new_page()
    sign_up(page, name="Grace Hopper", email="grace.versions@example.com")
    wait_for_shell(page)

    page.get_by_role("link", name="New agent").first.click()
    page.get_by_label("Name", exact=True).fill("Versioned bot")
    page.get_by_label("Instructions", exact=True).fill(V1)
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    agent_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    _wait_for_editor(page, "Versioned bot")

    # Two edits: the instructions (v2), then the model (v3).
    page.get_by_label("Instructions", exact=True).fill(V2)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_label("Model").fill("gpt-4.1")
    page.get_by_role("button", name="Save changes").click()
    _wait_for_versions(page, agent_id, 3)
    page.reload()
    expect(page.get_by_label("Model")).to_have_value("gpt-4.1")
    assert len(_configs(agent_id)) == 3

    # History: three versions, the newest current.
    page.get_by_role("tab", name="History").click()
    history = page.get_by_role("tabpanel")
    versions = history.get_by_role("table").first
    expect(versions.get_by_role("rowheader")).to_have_text(["Version 3current", "Version 2", "Version 1"])

    # Compare v1 with v3: changed fields marked, the instructions as a plain-text line diff.
    page.get_by_label("From", exact=True).select_option("1")
    page.get_by_label("To", exact=True).select_option("3")
    changed = history.locator("tr[data-changed='true']")
    expect(changed).to_have_count(2)
    expect(changed.filter(has_text="Model")).to_contain_text("gpt-4.1-mini")
    expect(changed.filter(has_text="Instructions").first).to_be_visible()
    diff = page.get_by_label("Instructions diff")
    expect(diff.locator("[data-kind='removed']")).to_have_text(["- Answer **briefly**."])
    expect(diff.locator("[data-kind='added']")).to_have_text(["+ Answer in detail."])
    expect(diff.locator("strong")).to_have_count(0)  # never rendered as Markdown
    shot(page, "versions-01-diff")

    # Restore v1, with confirmation: v4 has v1's configuration.
    page.get_by_role("button", name="Restore version 1").click()
    page.get_by_role("button", name="Restore this version").click()
    expect(page.get_by_text("Restored version 1 as version 4.")).to_be_visible()
    expect(history.get_by_text("Restored from version 1")).to_be_visible()
    configs = _configs(agent_id)
    assert len(configs) == 4 and configs[3] == configs[0]
    page.get_by_role("tab", name="Configuration").click()
    expect(page.get_by_label("Instructions", exact=True)).to_have_value(V1)
    expect(page.get_by_label("Model")).to_have_value("gpt-4.1-mini")
    shot(page, "versions-02-restored")


def test_the_run_page_links_to_the_version_it_ran(new_context):
    page = new_context().new_page()
    sign_up(page, name="Alan Turing", email="alan.versions@example.com")
    wait_for_shell(page)
    page.get_by_role("link", name="New agent").first.click()
    page.get_by_label("Name", exact=True).fill("Pinned bot")
    page.get_by_label("Instructions", exact=True).fill("First")
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    _wait_for_editor(page, "Pinned bot")
    page.get_by_label("Instructions", exact=True).fill("Second")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    agent_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    with session_scope() as session:  # a finished run of version 1, written directly (no provider)
        agent = session.get(Agent, agent_id)
        assert agent is not None
        run = Run(
            workspace_id=agent.workspace_id,
            created_by=agent.created_by,
            agent_id=agent_id,
            status="succeeded",
            input="Hi",
            output="Hello",
            agent_snapshot=_configs(agent_id)[0],
            agent_version=1,
        )
        session.add(run)
        session.flush()
        run_id = run.id

    page.goto(f"/runs/{run_id}")
    page.get_by_role("link", name="Agent version 1").click()

    expect(page).to_have_url(re.compile(rf"/agents/{agent_id}\?tab=history&version=1$"))
    expect(page.get_by_role("tab", name="History")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("From", exact=True)).to_have_value("1")
    expect(page.get_by_label("To", exact=True)).to_have_value("2")
    diff = page.get_by_label("Instructions diff")
    expect(diff.locator("[data-kind='removed']")).to_have_text(["- First"])
