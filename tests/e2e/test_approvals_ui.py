"""Human approval of tool calls in the browser: an agent asks before running its
calculator; the run waits with the exact call on its page; a second member approves it
from the Approvals inbox in their own browser; the card leaves the first browser by
itself and the run finishes."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Workspace
from tests.e2e.conftest import shot
from tests.e2e.helpers import PASSWORD, save_emulator_key, sign_in, sign_up, wait_for_shell
from tests.factories import add_member, make_user


def test_a_second_members_browser_approves_a_waiting_run_and_it_finishes(new_context, emulator):
    owner = new_context().new_page()
    sign_up(owner, name="Ada Lovelace", email="ada@example.com")
    wait_for_shell(owner)
    save_emulator_key(owner, emulator.openai_base_url)

    # An agent whose calculator calls wait for a person, for up to 30 minutes.
    owner.goto("/agents/new")
    owner.get_by_label("Name", exact=True).fill("Careful math")
    owner.get_by_label("Provider").select_option("openai_compatible")
    owner.get_by_label("Model").fill("llama3.1")
    owner.get_by_label("Calculator").check()
    ask = owner.locator('[data-entry="calculator"]').get_by_role("switch", name="Ask before running")
    ask.click()
    owner.get_by_label("Approval timeout (minutes)").fill("30")
    owner.get_by_role("button", name="Create agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    expect(ask).to_be_checked()
    expect(owner.get_by_label("Approval timeout (minutes)")).to_have_value("30")

    with session_scope() as session:
        workspace_id = session.exec(select(Workspace.id).where(Workspace.name == "Ada's workspace")).one()
    grace = make_user(name="Grace Hopper", email="grace@example.com", password=PASSWORD, personal=False)
    add_member(workspace_id, Role.MEMBER, user=grace)

    # The run stops at the call and shows it, exactly.
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(40, 9)]))
    emulator.enqueue(Script([text("The answer is 42."), usage(60, 12)]))
    owner.get_by_label("Input", exact=True).fill("What is 6 times 7?")
    owner.get_by_role("button", name="Run", exact=True).click()
    expect(owner).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    card = owner.get_by_role("region", name="Tool call waiting for approval")
    expect(card).to_be_visible(timeout=20_000)
    expect(card.get_by_label("Arguments of the call")).to_contain_text('"expression": "6 * 7"')
    expect(owner.get_by_text("Waiting for approval").first).to_be_visible()
    # The call's own card in the timeline says what it waits for (no "running" spinner).
    expect(owner.locator("#run-timeline").get_by_text("waiting for approval", exact=True)).to_be_visible()
    shot(owner, "60-run-waiting-for-approval")

    # Grace, in her own browser, finds it in the inbox and approves it with a note.
    member = new_context().new_page()
    sign_in(member, email="grace@example.com", password=PASSWORD)
    expect(member.get_by_label("1 waiting for approval")).to_be_visible()
    member.get_by_role("link", name=re.compile("Approvals")).click()
    expect(member).to_have_url(re.compile(r"/approvals$"))
    waiting = member.get_by_role("region", name="Tool call waiting for approval")
    expect(waiting).to_have_count(1)
    expect(waiting.get_by_role("link", name="Careful math")).to_be_visible()
    waiting.get_by_label("Note for the agent (optional)").fill("Fine, go ahead.")
    shot(member, "61-approvals-inbox")
    waiting.get_by_role("button", name="Approve this call of calculator").click()
    expect(member.get_by_text("Nothing waits for approval")).to_be_visible(timeout=10_000)

    # Ada's page drops the card by itself and the run finishes.
    expect(card).to_have_count(0, timeout=15_000)
    expect(owner.locator("#run-timeline")).to_contain_text("The answer is 42.", timeout=20_000)
    expect(owner.get_by_text("succeeded").first).to_be_visible(timeout=20_000)
    shot(owner, "62-run-approved-and-done")
