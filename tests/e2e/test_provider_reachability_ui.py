"""Settings → Providers shows whether the server can reach each configured provider, from
the periodic keyless check (the e2e server checks every 2 s): reachable for a server that
answers, unreachable with the reason for one that the address policy refuses. And the
production server answers its health probes."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.services import provider_keys
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_team, make_user


def test_settings_shows_each_providers_reachability_from_the_periodic_check(new_context, emulator: Emulator):
    team = make_team("Acme")
    viewer = make_user(name="Vic Viewer", email="vic@example.com", personal=False)
    add_member(team.workspace_id, Role.VIEWER, user=viewer)
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai_compatible", api_key="", base_url=emulator.openai_base_url
    )
    # Listed for this test process, not for the server: the server's check refuses it.
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai",
        api_key="sk-live-0000000000000000-1234",
        base_url="http://127.0.0.1:9/v1",
    )

    page = new_context().new_page()
    sign_in(page, email="vic@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.goto("/settings")
    compatible = page.get_by_label("Reachability of the OpenAI-compatible base URL")
    openai = page.get_by_label("Reachability of the OpenAI base URL")
    for _ in range(20):  # the first check after the keys were saved lands within ~2 s
        if compatible.count() and openai.count():
            break
        page.wait_for_timeout(500)
        page.reload()

    expect(compatible.get_by_text("Reachable", exact=True)).to_be_visible()
    expect(compatible.get_by_text(re.compile(r"checked .*ago"))).to_be_visible()
    expect(openai.get_by_text("Unreachable", exact=True)).to_be_visible()
    expect(openai.get_by_text(re.compile(r"127\.0\.0\.1 is a loopback address"))).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Reachability of the"))).to_have_count(
        2
    )  # Google etc. not configured
    shot(page, "70-settings-provider-reachability")
    assert emulator.requests == []  # the check sends no request the emulator records (no POST, no key)


def test_the_real_server_answers_its_health_probes(page):
    live = page.request.get("/api/health/live")
    assert live.status == 200 and live.json() == {"status": "ok"}
    ready = page.request.get("/api/health/ready")
    assert ready.status == 200, ready.text()
    body = ready.json()
    assert body["failed"] == [] and body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is True  # the app's own queue (embedded) or SAQ's (Redis)
