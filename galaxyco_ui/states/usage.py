"""The usage page (/usage, everyone in the workspace) and an agent's month-to-date figures."""

from __future__ import annotations

from typing import Any

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import usage
from galaxyco_ui.services.usage import UsageReport, UsageRow
from galaxyco_ui.states.guard import guarded

FILTERS = ("period", "agent", "member", "model", "trigger")


class UsageState(rx.State):
    loaded: bool = False
    period: rx.Field[str] = rx.field("30d")
    agent: rx.Field[str] = rx.field("")
    member: rx.Field[str] = rx.field("")
    model: rx.Field[str] = rx.field("")
    trigger: rx.Field[str] = rx.field("")
    # [value, label] of each filter's choices.
    period_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    agent_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    member_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    model_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    trigger_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    window_label: str = ""
    # Chart data (recharts reads plain objects): UsageDay and UsageBar as dicts.
    days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    by_agent: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    by_member: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    by_model: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    # [label, value, note] of the figures above the charts.
    figures: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    rows: rx.Field[list[UsageRow]] = rx.field(default_factory=list)
    rows_note: str = ""
    has_runs: bool = False
    errors: dict[str, str] = {}
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.period, self.agent, self.member, self.model, self.trigger = "30d", "", "", "", ""
        self.errors = {}
        self.form_key += 1
        options = usage.list_usage_filter_options(ctx=ctx)
        self.period_options = [[o.value, o.label] for o in options.periods]
        self.agent_options = [[o.value, o.label] for o in options.agents]
        self.member_options = [[o.value, o.label] for o in options.members]
        self.model_options = [[o.value, o.label] for o in options.models]
        self.trigger_options = [[o.value, o.label] for o in options.triggers]
        self._refresh(ctx)
        self.loaded = True

    def _query(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "agent_id": self.agent,
            "member_id": self.member,
            "model": self.model,
            "trigger": self.trigger,
        }

    def _refresh(self, ctx: TenantContext) -> None:
        self._show(usage.get_usage_report(ctx=ctx, **self._query()))

    def _show(self, report: UsageReport) -> None:
        t = report.totals
        self.window_label = f"{report.start} to {report.end} (UTC days)"
        self.days, self.rows = [d.model_dump() for d in report.days], report.rows
        self.by_agent = [b.model_dump() for b in report.by_agent]
        self.by_member = [b.model_dump() for b in report.by_member]
        self.by_model = [b.model_dump() for b in report.by_model]
        self.has_runs = t.runs > 0
        unpriced = f"{t.unpriced_runs:,} runs of unpriced models not included" if t.unpriced_runs else ""
        self.figures = [
            [
                "Runs",
                f"{t.runs:,}",
                f"{t.succeeded:,} succeeded · {t.failed:,} failed · {t.cancelled:,} cancelled",
            ],
            [
                "Success rate",
                "—" if t.success_rate is None else f"{t.success_rate:.1f} %",
                "of finished runs",
            ],
            ["Cost", f"${t.cost_usd:,.2f}", unpriced],
            [
                "Tokens",
                f"{t.input_tokens + t.output_tokens:,}",
                f"{t.input_tokens:,} in · {t.output_tokens:,} out",
            ],
            ["Duration p50", _duration(t.p50_ms), "half the runs took less"],
            ["Duration p95", _duration(t.p95_ms), "19 in 20 runs took less"],
        ]
        self.rows_note = (
            f"The {len(report.rows):,} newest of {report.rows_total:,} rows; the CSV file holds them all."
            if report.rows_total > len(report.rows)
            else ""
        )

    @rx.event
    @guarded(field_errors="errors")
    def apply_filters(self, ctx: TenantContext, form: dict):
        values = {name: _text(form.get(name)) for name in FILTERS}
        self.errors = {}
        self.period, self.agent, self.member = values["period"], values["agent"], values["member"]
        self.model, self.trigger = values["model"], values["trigger"]
        self._refresh(ctx)

    @rx.event
    @guarded(field_errors="errors")
    def download_csv(self, ctx: TenantContext):
        export = usage.export_usage_csv(ctx=ctx, **self._query())
        return rx.download(data=export.content, filename=export.filename, mime_type="text/csv")


class AgentUsageState(rx.State):
    """The agent page's "this month" line: runs finished and what they cost."""

    month_label: str = ""
    month_runs: str = ""
    month_cost: str = ""

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        path = str(self.router.url.path).rstrip("/")
        self.month_label = self.month_runs = self.month_cost = ""
        if path.endswith("/agents/new"):
            return None
        try:
            month = usage.get_agent_month_usage(ctx=ctx, agent_id=path.rsplit("/", 1)[-1])
        except NotFoundError:
            return None
        self.month_label = month.month
        self.month_runs = f"{month.runs:,} run" + ("" if month.runs == 1 else "s")
        self.month_cost = f"${month.cost_usd:,.2f}" + (
            f" (+ {month.unpriced_runs:,} unpriced)" if month.unpriced_runs else ""
        )
        return None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"
