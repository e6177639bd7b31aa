"""Settings → Webhooks as an admin meets it: add an endpoint pointing at a local receiver,
copy its signing secret, send a test event and find it delivered (HTTP 200) in the log;
a member never sees the card."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from tests.e2e.conftest import WEBHOOK_RECEIVER_PORT, shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_team, make_user
from tests.webhook_receiver import WEBHOOK_PATH, Receiver, verify

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{32}$")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(port=WEBHOOK_RECEIVER_PORT)  # the app's operator lists this port
    yield server
    server.close()


def test_admin_adds_an_endpoint_sends_a_test_event_and_sees_it_delivered(new_context, receiver: Receiver):
    team = make_team("Acme")
    admin = make_user(name="Grace Admin", email="grace@example.com", personal=False)
    add_member(team.workspace_id, Role.ADMIN, user=admin)
    member = make_user(name="Max Member", email="max@example.com", personal=False)
    add_member(team.workspace_id, Role.MEMBER, user=member)

    page = new_context().new_page()
    sign_in(page, email="grace@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.get_by_role("link", name="Settings").click()
    card = page.locator("#webhooks")
    expect(card.get_by_text("No webhook endpoints yet.")).to_be_visible(
        timeout=15_000
    )  # the loaders run first

    # Without an event the endpoint is refused next to the events, and what was typed stays.
    card.get_by_label("Endpoint URL").fill(receiver.url)
    card.get_by_role("button", name="Add webhook endpoint").click()
    expect(card.get_by_text("Choose at least one event.")).to_be_visible()
    expect(card.get_by_label("Endpoint URL")).to_have_value(receiver.url)

    card.get_by_label("Description (optional)").fill("Ops pager")
    card.locator("#webhook-new-event_run_succeeded").check()
    card.locator("#webhook-new-event_knowledge_item_failed").check()
    card.get_by_role("button", name="Add webhook endpoint").click()
    expect(page.get_by_text("Endpoint added.")).to_be_visible()
    secret_box = page.locator("#webhook-secret")
    expect(secret_box).to_have_text(SECRET)
    secret = secret_box.inner_text().strip()
    row = card.get_by_role("group", name=f"Endpoint {receiver.url}")
    expect(row.get_by_text("Ops pager")).to_be_visible()
    expect(row.get_by_text("run.succeeded", exact=True)).to_be_visible()
    expect(row.get_by_text("knowledge.item.failed", exact=True)).to_be_visible()
    expect(row.get_by_text("run.failed", exact=True)).to_have_count(0)
    expect(row.get_by_text("No deliveries yet")).to_be_visible()
    shot(page, "70-settings-webhook-added")

    row.get_by_role("button", name=f"Send a test event to {receiver.url}").click()
    delivery = row.get_by_role("table").get_by_role("row").filter(has_text="webhook.test")
    # The attempt runs in the background: "Refresh" until it has been answered.
    for _ in range(20):
        if delivery.filter(has_text="delivered").count():
            break
        row.get_by_role("button", name=re.compile("Refresh the delivery log")).click()
        page.wait_for_timeout(250)
    expect(delivery.get_by_text("delivered")).to_be_visible()
    expect(delivery.get_by_role("cell", name="200", exact=True)).to_be_visible()
    expect(delivery.get_by_text('{"received": true, "status": 200}')).to_be_visible()
    shot(page, "71-settings-webhook-delivered")

    (request,) = receiver.requests
    assert request.path == WEBHOOK_PATH
    assert verify(secret, request.headers, request.body)  # the secret shown is the one that signs
    assert request.json["type"] == "webhook.test"

    # A member's settings page has no webhooks card.
    other = new_context().new_page()
    sign_in(other, email="max@example.com", password=PASSWORD)
    wait_for_shell(other)
    other.get_by_role("link", name="Settings").click()
    expect(other.get_by_role("heading", name="Providers")).to_be_visible()
    expect(other.locator("#webhooks")).to_have_count(0)
