"""The usage page (/usage) in Chromium: charts drawn from seeded runs, a filter that
changes the figures and the bars, the CSV download, and an agent's month-to-date line.

Runs are finished through ``store.finish_run`` (its clock moved to chosen moments), so
the rollup the page reads is filled exactly as the executor fills it."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run, WorkspaceMember
from galaxyco_ui.runs import store
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, insert_agent, make_user


def _finish(workspace_id: str, user_id: str, agent_id: str, at: datetime, status: str, cost: str) -> None:
    with session_scope() as session:
        run = Run(
            workspace_id=workspace_id,
            created_by=user_id,
            agent_id=agent_id,
            input="Hi",
            status="running",
            agent_snapshot={"model": "gpt-4.1-mini"},
            started_at=at - timedelta(seconds=2),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with mock.patch.object(store, "utcnow", return_value=at):
        store.finish_run(run_id, status=status, input_tokens=1_000, output_tokens=200, cost_usd=Decimal(cost))


def _figure(page, label: str):  # type: ignore[no-untyped-def]
    return page.locator("#usage-figures").get_by_label(re.compile(f"^{label}: "))


def test_usage_page_draws_charts_filters_change_them_and_the_csv_downloads(new_context):
    owner = make_user(name="Uma Usage", email="uma.usage@example.com")
    viewer = make_user(name="Vic Viewer", email="vic.usage@example.com", personal=False)
    with session_scope() as session:
        workspace_id = session.exec(
            select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == owner.id)
        ).one()
    add_member(workspace_id, Role.VIEWER, user=viewer)
    triage = insert_agent(workspace_id, created_by=owner.id, name="Triage bot")
    ledger = insert_agent(workspace_id, created_by=owner.id, name="Ledger bot")
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=30, second=0)
    for days_ago, status in ((0, "succeeded"), (0, "failed"), (1, "succeeded")):
        _finish(workspace_id, owner.id, triage, today - timedelta(days=days_ago), status, "0.50")
    for _ in range(2):
        _finish(workspace_id, owner.id, ledger, today, "succeeded", "2.00")

    # A viewer opens Usage from the navigation: every chart is drawn as SVG.
    page = new_context().new_page()
    sign_in(page, email="vic.usage@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.get_by_role("link", name="Usage").click()
    expect(page).to_have_url(re.compile(r"/usage/?$"))
    expect(_figure(page, "Runs")).to_contain_text("5")
    expect(_figure(page, "Cost")).to_contain_text("$5.50")
    for chart in ("runs", "tokens", "cost", "rate", "duration", "by-agent", "by-member", "by-model"):
        expect(page.locator(f"#chart-{chart} .recharts-wrapper > svg.recharts-surface")).to_have_count(1)
    expect(page.locator("#chart-runs .recharts-bar-rectangle").first).to_be_attached()
    bars_before = page.locator("#chart-by-agent .recharts-bar-rectangle").count()
    assert bars_before == 2
    expect(page.get_by_role("cell", name="Ledger bot")).to_be_visible()
    shot(page, "80-usage-page")

    # Filtering by agent changes the figures, the bars and the table.
    page.get_by_label("Agent", exact=True).select_option(label="Triage bot")
    page.get_by_role("button", name="Apply filters").click()
    expect(_figure(page, "Runs")).to_contain_text("3")
    expect(_figure(page, "Cost")).to_contain_text("$1.50")
    expect(page.locator("#chart-by-agent .recharts-bar-rectangle")).to_have_count(1)
    expect(page.get_by_role("cell", name="Ledger bot")).to_have_count(0)

    # The CSV holds the filtered rows.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the filtered usage table as CSV").click()
    download = download_info.value
    assert re.fullmatch(r"galaxyco-usage-.+\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["Day (UTC)", "Agent"]
    assert {r[1] for r in rows[1:]} == {"Triage bot"}
    assert sum(int(r[5]) for r in rows[1:]) == 3

    # The agent's own page shows this month's runs and cost.
    page.goto(f"/agents/{ledger}")
    expect(page.locator("#agent-month-runs")).to_have_text("2 runs")
    expect(page.locator("#agent-month-cost")).to_have_text("$4.00")
