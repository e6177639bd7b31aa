"""An agent's trigger URL as people meet it: an admin turns it on, shapes the input with a
template, another system POSTs to it, and the run shows on /runs as a Webhook run; the
URL is regenerated and turned off behind confirmations; a viewer only sees that it is on."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.script import Script, text, usage
from galaxyco_ui.services import provider_keys
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_agent, make_team, make_user

HOOK_URL = re.compile(r"^http://localhost:\d+/api/v1/hooks/gxh_[A-Za-z0-9_-]{43}$")


def test_admin_turns_on_a_trigger_url_and_a_post_to_it_shows_as_a_webhook_run(new_context, emulator):
    team = make_team("Hooks Inc")
    admin_user = make_user(name="Hedy Admin", email="hedy@example.com", personal=False)
    admin = add_member(team.workspace_id, Role.ADMIN, user=admin_user)
    viewer_user = make_user(name="Vera Viewer", email="vera@example.com", personal=False)
    add_member(team.workspace_id, Role.VIEWER, user=viewer_user)
    provider_keys.set_provider_key(
        ctx=admin, provider="openai_compatible", api_key="emulator-key", base_url=emulator.openai_base_url
    )
    agent = make_agent(
        admin, name="Ticket triage", provider="openai_compatible", model="test-model", tools=[]
    )

    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, email="hedy@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.goto(f"/agents/{agent.id}")
    section = page.locator("#agent-hook")
    section.get_by_role("button", name="Enable trigger URL").click()
    expect(page.get_by_text("Trigger URL on.")).to_be_visible()

    url_box = section.get_by_label("Trigger URL", exact=True)
    expect(url_box).to_have_value(HOOK_URL)
    url = url_box.input_value()
    expect(section.locator("#agent-hook-curl")).to_contain_text(f"curl -X POST '{url}'")
    section.get_by_role("button", name="Copy the trigger URL").click()
    expect(page.get_by_text("Trigger URL copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url

    # The template: a placeholder it cannot read is refused next to the field.
    template = section.get_by_label("Input template")
    expect(template).to_have_value("{{ body }}")
    template.fill("Triage: {{ body.ticket.subject }} ({{ headers.x }})")
    section.get_by_role("button", name="Save template").click()
    expect(section.get_by_text("is not a placeholder")).to_be_visible()
    template.fill("Triage: {{ body.ticket.subject }} [{{ body.tags.0 }}]")
    section.get_by_role("button", name="Save template").click()
    expect(page.get_by_text("Template saved.")).to_be_visible()
    shot(page, "45-agent-trigger-url")

    # Another system posts to the URL; no API key, the URL is the credential.
    emulator.enqueue(Script([text("Routed to the hardware team."), usage(12, 6)]))
    answer = httpx.post(
        url, json={"ticket": {"subject": "Printer on fire"}, "tags": ["hardware"]}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]

    page.goto("/runs")
    row = page.get_by_role("row").filter(has_text="Ticket triage").filter(has_text="Webhook")
    expect(row).to_have_count(1)
    expect(row.get_by_text("succeeded")).to_be_visible(timeout=30_000)
    page.get_by_label("Trigger").select_option("webhook")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("row").filter(has_text="Ticket triage")).to_have_count(1)
    shot(page, "46-runs-webhook-trigger")
    page.get_by_label("Trigger").select_option("manual")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("row").filter(has_text="Ticket triage")).to_have_count(0)

    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("Triage: Printer on fire [hardware]")).to_be_visible()
    expect(page.get_by_text("Webhook", exact=True)).to_be_visible()
    expect(page.get_by_text("Routed to the hardware team.")).to_be_visible()

    # A viewer sees that the URL is on, never the URL.
    other = new_context().new_page()
    sign_in(other, email="vera@example.com", password=PASSWORD)
    wait_for_shell(other)
    other.goto(f"/agents/{agent.id}")
    expect(other.get_by_text("Trigger URL: on")).to_be_visible()
    expect(other.get_by_role("button", name="Enable trigger URL")).to_have_count(0)
    assert url.rsplit("/", 1)[-1] not in other.content()

    # Regenerate, behind a confirmation: the old URL stops at once.
    page.goto(f"/agents/{agent.id}")
    section.get_by_role("button", name="Regenerate URL").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Regenerate URL").click()
    expect(page.get_by_text("New trigger URL made.")).to_be_visible()
    expect(url_box).not_to_have_value(url)
    new_url = url_box.input_value()
    assert HOOK_URL.match(new_url)
    gone = httpx.post(url, content=b"hello", timeout=30)
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"

    # Disable, behind a confirmation: the URL is refused and the page says how to turn it on.
    section.get_by_role("button", name="Disable").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Disable trigger URL").click()
    expect(page.get_by_text("Trigger URL off.")).to_be_visible()
    expect(section.get_by_role("button", name="Enable trigger URL")).to_be_visible()
    expect(section.get_by_label("Trigger URL", exact=True)).to_have_count(0)
    assert httpx.post(new_url, content=b"hello", timeout=30).status_code == 404
    other.reload()
    expect(other.get_by_text("Trigger URL: off")).to_be_visible()
