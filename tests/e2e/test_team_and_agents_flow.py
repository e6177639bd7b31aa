"""The foundation journey, as two people in two browsers against the production build.

Sign up → personal workspace → create, edit and delete agents → invite a teammate as
viewer → they accept, see the agent and cannot edit it → the owner promotes them.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User, WorkspaceMember
from tests.e2e.conftest import shot
from tests.e2e.helpers import PASSWORD, sign_up, wait_for_shell


def test_owner_builds_agents_and_brings_in_a_viewer_who_is_then_promoted(new_context):
    owner = new_context().new_page()

    # Sign up: a personal workspace, the empty state explains agents.
    sign_up(owner, name="Ada Lovelace", email="ada@example.com")
    expect(owner).to_have_url(re.compile(r"/agents/?$"))
    wait_for_shell(owner)
    expect(owner.locator("#workspace-switcher option:checked")).to_have_text("Ada's workspace")
    expect(owner.get_by_text("No agents yet")).to_be_visible()
    shot(owner, "01-agents-empty")

    # Create an agent.
    owner.get_by_role("link", name="New agent").first.click()
    expect(owner.get_by_role("heading", name="New agent")).to_be_visible()
    owner.get_by_label("Name", exact=True).fill("Support bot")
    owner.get_by_label("Description").fill("Answers customer questions")
    owner.get_by_label("Provider").select_option("anthropic")
    owner.get_by_label("Model").fill("claude-sonnet-4-5")
    owner.get_by_label("Instructions").fill("Be brief and friendly.")
    owner.get_by_label("Tags").fill("support, tier-1")
    owner.get_by_label("Calculator").check()
    shot(owner, "02-agent-new")
    owner.get_by_role("button", name="Create agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    agent_url = owner.url
    expect(owner.get_by_role("heading", name="Support bot")).to_be_visible()

    # Edit it.
    owner.get_by_label("Description").fill("Answers customer questions in English and French")
    owner.get_by_role("button", name="Save changes").click()
    expect(owner.get_by_text("Saved.")).to_be_visible()
    owner.reload()
    expect(owner.get_by_label("Description")).to_have_value(
        "Answers customer questions in English and French"
    )
    expect(owner.get_by_label("Calculator")).to_be_checked()

    # A duplicate name is refused next to the field, and the typed form is kept.
    owner.goto("/agents/new")
    owner.get_by_label("Name", exact=True).fill("support BOT")
    owner.get_by_label("Instructions").fill("Draft that must not be lost")
    owner.get_by_role("button", name="Create agent").click()
    expect(owner.get_by_text("already exists in this workspace")).to_be_visible()
    expect(owner.get_by_label("Instructions")).to_have_value("Draft that must not be lost")
    shot(owner, "03-agent-duplicate-name")

    # Create and then delete another agent, with confirmation.
    owner.get_by_label("Name", exact=True).fill("Scratch agent")
    owner.get_by_role("button", name="Create agent").click()
    expect(owner.get_by_role("heading", name="Scratch agent")).to_be_visible()
    owner.get_by_role("button", name="Delete").click()
    owner.get_by_role("button", name="Delete agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/?$"))
    expect(owner.get_by_role("link", name="Support bot")).to_be_visible()
    expect(owner.get_by_role("link", name="Scratch agent")).to_have_count(0)
    shot(owner, "04-agents-list")

    # Invite a teammate as a viewer; the link is shown to copy.
    owner.get_by_role("link", name="Team").click()
    expect(owner.get_by_role("heading", name="Team")).to_be_visible()
    owner.get_by_label("Email address").fill("bob@example.com")
    owner.get_by_label("Role", exact=True).select_option("viewer")
    owner.get_by_role("button", name="Send invite").click()
    link = owner.locator("#invite-link")
    expect(link).to_contain_text("/invite/")
    invite_url = link.inner_text()
    expect(owner.get_by_role("cell", name="bob@example.com")).to_be_visible()
    shot(owner, "05-team-invited")

    # The invitee opens the link in their own browser, creates an account and accepts.
    bob = new_context().new_page()
    bob.goto(invite_url)
    expect(bob.get_by_role("heading", name=re.compile("Join Ada's workspace"))).to_be_visible()
    shot(bob, "06-invite-page")
    bob.get_by_role("link", name="Create an account").click()
    expect(bob.get_by_label("Email")).to_have_value("bob@example.com")
    bob.get_by_label("Your name").fill("Bob Babbage")
    bob.get_by_label("Password").fill(PASSWORD)
    bob.get_by_role("button", name="Create account").click()
    expect(bob.get_by_role("button", name="Accept invitation")).to_be_visible()
    bob.get_by_role("button", name="Accept invitation").click()
    expect(bob).to_have_url(re.compile(r"/agents/?$"))
    expect(bob.locator("#workspace-switcher option:checked")).to_have_text("Ada's workspace")
    expect(bob.get_by_role("link", name="Support bot")).to_be_visible()
    expect(bob.get_by_role("link", name="New agent")).to_have_count(0)

    # As a viewer they can read the agent but not change it.
    bob.get_by_role("link", name="Support bot").click()
    expect(bob.get_by_text("You can view this agent")).to_be_visible()
    expect(bob.get_by_role("button", name="Save changes")).to_have_count(0)
    expect(bob.get_by_role("button", name="Delete")).to_have_count(0)
    expect(bob.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
    shot(bob, "07-viewer-agent")

    # A foreign or made-up agent id is simply not found.
    bob.goto("/agents/" + "0" * 32)
    expect(bob.get_by_text("Agent not found").first).to_be_visible()

    # The owner promotes them to member.
    owner.reload()
    owner.get_by_label("Role for Bob Babbage").select_option("member")
    expect(owner.get_by_text("Role updated.")).to_be_visible()
    with session_scope() as session:
        bob_id = session.exec(select(User.id).where(User.email == "bob@example.com")).one()
        roles = session.exec(select(WorkspaceMember.role).where(WorkspaceMember.user_id == bob_id)).all()
    assert sorted(roles) == ["member", "owner"]  # member here, owner of their personal workspace
    shot(owner, "08-team-promoted")

    # Now a member: may create agents, still may not edit the owner's.
    bob.goto(agent_url)
    expect(bob.get_by_role("button", name="Duplicate")).to_be_visible()
    expect(bob.get_by_text("You can view this agent")).to_be_visible()
    bob.goto("/agents")
    expect(bob.get_by_role("link", name="New agent").first).to_be_visible()
