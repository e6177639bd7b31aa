"""The audit log page (/settings/audit) as an owner, an admin and a member meet it: the
owner renames the workspace and creates an agent, opens the log from Settings, filters
by action, sees the row with its IP address and downloads the filtered CSV; an admin
reads the same log without any IP address; a member is told the page is not theirs."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_user


def test_owner_filters_the_log_and_downloads_it_admin_sees_no_ip_member_is_refused(new_context):
    owner_user = make_user(name="Mary Owner", email="mary.audit@example.com")
    admin_user = make_user(name="Grace Admin", email="grace.audit@example.com", personal=False)
    member_user = make_user(name="Max Member", email="max.audit@example.com", personal=False)

    owner = new_context().new_page()
    sign_in(owner, email="mary.audit@example.com", password=PASSWORD)
    wait_for_shell(owner)

    # The owner renames the workspace and creates an agent.
    owner.get_by_role("link", name="Settings").click()
    owner.get_by_label("Workspace name", exact=True).fill("Orbital Audit")
    owner.get_by_role("button", name="Save workspace name").click()
    expect(owner.get_by_text("Workspace renamed.")).to_be_visible()
    owner.get_by_role("link", name="Agents").click()
    owner.get_by_role("link", name="New agent").first.click()
    owner.get_by_label("Name", exact=True).fill("Ledger keeper")
    owner.get_by_role("button", name="Create agent").click()
    expect(owner).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))

    with session_scope() as session:
        created = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "agent.created", AuditEvent.created_by == owner_user.id
            )
        ).one()
        workspace_id = created.workspace_id
    ip = created.meta.get("ip", "")
    assert ip, "the UI's events carry the client address"
    add_member(workspace_id, Role.ADMIN, user=admin_user)
    add_member(workspace_id, Role.MEMBER, user=member_user)

    # From Settings to the log, which lists both events, newest first.
    owner.get_by_role("link", name="Settings").click()
    expect(owner.get_by_role("cell", name=re.compile("Renamed workspace"))).to_have_count(0)  # no card
    owner.get_by_role("link", name="Open the audit log").click()
    expect(owner).to_have_url(re.compile(r"/settings/audit/?$"))
    expect(owner.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(owner.get_by_role("cell", name=re.compile("Renamed workspace"))).to_be_visible()
    expect(owner.get_by_role("columnheader", name="IP address")).to_be_visible()

    # Filter by action: only the agent's creation is left, with its address.
    expect(owner.get_by_label("Action").locator("option", has_text="agent.created")).to_have_count(1)
    owner.get_by_label("Action").select_option("agent.created")
    owner.get_by_label("Period").select_option(label="Last 24 hours")
    owner.get_by_role("button", name="Apply filters").click()
    row = owner.get_by_role("row").filter(has_text="Created agent “Ledger keeper”")
    expect(row).to_be_visible()
    expect(row.get_by_text(ip, exact=True)).to_be_visible()
    expect(owner.get_by_role("cell", name=re.compile("Renamed workspace"))).to_have_count(0)
    shot(owner, "75-settings-audit-filtered")

    # The CSV holds the filtered events, with the IP address for the owner.
    with owner.expect_download() as download_info:
        owner.get_by_role("button", name="Download the filtered events as CSV").click()
    download = download_info.value
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert download.suggested_filename == f"galaxyco-audit-orbital-audit-{today}.csv"
    path = download.path()
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0][-1] == "IP address"
    assert [(r[1], r[3], r[4], r[-1]) for r in rows[1:]] == [
        ("Mary Owner", "agent.created", "Created agent “Ledger keeper”", ip)
    ]

    # An admin reads the same log, and its file, without any IP address.
    admin = new_context().new_page()
    sign_in(admin, email="grace.audit@example.com", password=PASSWORD)
    wait_for_shell(admin)
    admin.goto("/settings/audit")
    expect(admin.get_by_role("cell", name="Created agent “Ledger keeper”")).to_be_visible()
    expect(admin.get_by_role("columnheader", name="IP address")).to_have_count(0)
    assert ip not in admin.content()
    with admin.expect_download() as admin_download:
        admin.get_by_role("button", name="Download the filtered events as CSV").click()
    admin_csv = admin_download.value.path().read_text(encoding="utf-8")
    assert "Ledger keeper" in admin_csv and ip not in admin_csv and "IP address" not in admin_csv
    shot(admin, "76-settings-audit-admin")

    # A member is told the log is for admins and owners, and sees none of it.
    member = new_context().new_page()
    sign_in(member, email="max.audit@example.com", password=PASSWORD)
    wait_for_shell(member)
    member.goto("/settings/audit")
    expect(member.get_by_text("Only admins and owners can read the audit log.")).to_be_visible()
    expect(member.get_by_text("Ledger keeper")).to_have_count(0)
    member.goto("/settings")
    expect(member.get_by_role("link", name="Open the audit log")).to_have_count(0)
