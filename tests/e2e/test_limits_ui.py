"""Settings → Limits as an owner meets it: a workspace budget and an agent budget with their
month-to-date spending, run limits within the operator's maximum, and a run start over the
agent's budget refused with the date it resets; a member never sees the card."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, utcnow
from galaxyco_ui.runs import budgets, store
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_agent, make_team, make_user


def spent(ctx, agent_id: str, cost: str) -> None:  # type: ignore[no-untyped-def]
    """A run of ``agent_id`` that finished now having cost ``cost`` dollars."""
    with session_scope() as session:
        run = Run(workspace_id=ctx.workspace_id, created_by=ctx.user_id, agent_id=agent_id, input="Earlier")
        session.add(run)
        session.flush()
        run_id = run.id
    store.finish_run(run_id, status="succeeded", cost_usd=Decimal(cost))


def test_owner_sets_budgets_sees_spending_and_a_start_over_budget_is_refused(new_context):
    team = make_team("Limits Inc")
    owner = make_user(name="Olga Owner", email="olga.limits@example.com", personal=False)
    owner_ctx = add_member(team.workspace_id, Role.OWNER, user=owner)
    member = make_user(name="Mia Member", email="mia.limits@example.com", personal=False)
    add_member(team.workspace_id, Role.MEMBER, user=member)
    agent = make_agent(owner_ctx, name="Researcher", provider="openai", model="gpt-4o")
    spent(owner_ctx, agent.id, "3.00")
    resets_on = budgets.reset_label(utcnow())

    page = new_context().new_page()
    sign_in(page, email="olga.limits@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.goto("/settings#limits")
    card = page.locator("#limits")
    expect(card.get_by_text(resets_on)).to_be_visible()

    # The workspace budget: a bad amount is refused next to its field, a good one shows spending.
    workspace_usd = card.locator("#limits-workspace-monthly_usd")
    workspace_usd.fill("-3")
    card.get_by_role("button", name="Save workspace budget").click()
    expect(card.get_by_text("Enter an amount above $0")).to_be_visible()
    workspace_usd.fill("10")
    card.get_by_role("button", name="Save workspace budget").click()
    expect(page.get_by_text("Workspace budget saved.")).to_be_visible()
    expect(card.get_by_text("$3.00 of $10.00 this month")).to_be_visible()

    # A per-agent budget that the earlier run has already used up.
    card.get_by_label("Agent", exact=True).select_option(label="Researcher")
    card.locator("#limits-agent-monthly_usd").fill("2.50")
    card.get_by_role("button", name="Add agent budget").click()
    expect(page.get_by_text("Agent budget saved.")).to_be_visible()
    row = card.get_by_role("row").filter(has_text="Researcher")
    expect(row.get_by_text("$3.00 of $2.50 this month")).to_be_visible()
    expect(row.get_by_role("progressbar")).to_be_visible()

    # Run limits: at most the operator's maximum.
    operator_max = get_settings().workspace_max_concurrent_runs
    expect(card.get_by_text(f"At most {operator_max} (set by the server's operator).")).to_be_visible()
    expect(card.get_by_label("Runs at once")).to_have_attribute("max", str(operator_max))
    card.get_by_label("Runs at once").fill("3")
    card.get_by_role("button", name="Save run limits").click()
    expect(page.get_by_text("Run limits saved.")).to_be_visible()
    shot(page, "85-settings-limits")

    # A run of that agent is refused with the budget and the date it resets.
    page.goto(f"/agents/{agent.id}")
    page.get_by_label("Input", exact=True).fill("One more question")
    page.get_by_role("button", name="Run", exact=True).click()
    refusal = page.get_by_text("The agent “Researcher” has its monthly budget of $2.50 used up")
    expect(refusal).to_be_visible()
    expect(page.get_by_text(f"It resets on {resets_on}.")).to_be_visible()
    shot(page, "86-run-refused-over-budget")

    # Removing the agent budget lets runs start again (the workspace has $7 left).
    page.goto("/settings#limits")
    card.get_by_role("button", name="Remove the budget of agent Researcher").click()
    expect(page.get_by_text("Agent budget removed.")).to_be_visible()
    expect(card.get_by_text("No agent budgets.")).to_be_visible()

    # A member's settings page has no Limits card.
    other = new_context().new_page()
    sign_in(other, email="mia.limits@example.com", password=PASSWORD)
    wait_for_shell(other)
    other.goto("/settings")
    expect(other.get_by_role("heading", name="General")).to_be_visible()
    expect(other.locator("#limits")).to_have_count(0)
