"""Settings → Limits (owners and admins): monthly budgets and the workspace's run limits."""

from __future__ import annotations

from typing import Any

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.services import budgets
from galaxyco_ui.services.budgets import BudgetView
from galaxyco_ui.states.guard import guarded

_EMPTY = BudgetView(
    scope="workspace",
    subject_id="",
    subject_name="Workspace",
    monthly_usd=None,
    monthly_tokens=None,
    spent_usd="0.00",
    spent_tokens=0,
    usd_percent=0,
    tokens_percent=0,
    usd_text="",
    tokens_text="",
)


class LimitsState(rx.State):
    can_manage: bool = False
    workspace: rx.Field[BudgetView] = rx.field(default_factory=lambda: _EMPTY)
    agents: rx.Field[list[BudgetView]] = rx.field(default_factory=list)
    members: rx.Field[list[BudgetView]] = rx.field(default_factory=list)
    # [id, name] of what a budget may be added for (those without one first would be nicer,
    # but any may be chosen: adding to one that has a budget replaces it).
    agent_options: list[list[str]] = []
    member_options: list[list[str]] = []
    max_concurrent_runs: rx.Field[int] = rx.field(0)
    run_starts_per_minute: rx.Field[int] = rx.field(0)
    operator_max_concurrent_runs: rx.Field[int] = rx.field(0)
    operator_max_run_starts_per_minute: rx.Field[int] = rx.field(0)
    resets_on: str = ""
    workspace_errors: dict[str, str] = {}  # "monthly_usd" | "monthly_tokens"
    agent_errors: dict[str, str] = {}
    member_errors: dict[str, str] = {}
    run_errors: dict[str, str] = {}  # "max_concurrent_runs" | "run_starts_per_minute"
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.workspace_errors, self.agent_errors, self.member_errors, self.run_errors = {}, {}, {}, {}
        self.can_manage = can(ctx, Permission.MANAGE_SETTINGS)
        if not self.can_manage:
            self.workspace, self.agents, self.members = _EMPTY, [], []
            self.agent_options, self.member_options = [], []
            return None
        self._show(ctx)
        return None

    def _show(self, ctx: TenantContext) -> None:
        view = budgets.get_limits(ctx=ctx)
        self.workspace, self.agents, self.members = view.workspace, view.agents, view.members
        self.agent_options = [[o.id, o.name] for o in view.agent_options]
        self.member_options = [[o.id, o.name] for o in view.member_options]
        self.max_concurrent_runs = view.max_concurrent_runs
        self.run_starts_per_minute = view.run_starts_per_minute
        self.operator_max_concurrent_runs = view.operator_max_concurrent_runs
        self.operator_max_run_starts_per_minute = view.operator_max_run_starts_per_minute
        self.resets_on = view.resets_on
        self.form_key += 1

    @rx.event
    @guarded(field_errors="workspace_errors")
    def save_workspace_budget(self, ctx: TenantContext, form: dict):
        budgets.set_budget(
            ctx=ctx,
            scope="workspace",
            monthly_usd=_text(form.get("monthly_usd")),
            monthly_tokens=_text(form.get("monthly_tokens")),
        )
        self.workspace_errors = {}
        self._show(ctx)
        return rx.toast.success("Workspace budget saved.")

    @rx.event
    @guarded(field_errors="agent_errors")
    def add_agent_budget(self, ctx: TenantContext, form: dict):
        self.agent_errors = _check_add(form, "agent_id", "Choose an agent.")
        return self._add(ctx, "agent", _text(form.get("agent_id")), form) if not self.agent_errors else None

    @rx.event
    @guarded(field_errors="member_errors")
    def add_member_budget(self, ctx: TenantContext, form: dict):
        self.member_errors = _check_add(form, "user_id", "Choose a member.")
        return self._add(ctx, "member", _text(form.get("user_id")), form) if not self.member_errors else None

    def _add(self, ctx: TenantContext, scope: str, subject_id: str, form: dict) -> Any:
        budgets.set_budget(
            ctx=ctx,
            scope=scope,
            subject_id=subject_id,
            monthly_usd=_text(form.get("monthly_usd")),
            monthly_tokens=_text(form.get("monthly_tokens")),
        )
        self._show(ctx)
        return rx.toast.success(f"{scope.capitalize()} budget saved.")

    @rx.event
    @guarded
    def remove_agent_budget(self, ctx: TenantContext, agent_id: str):
        return self._remove(ctx, "agent", agent_id)

    @rx.event
    @guarded
    def remove_member_budget(self, ctx: TenantContext, user_id: str):
        return self._remove(ctx, "member", user_id)

    def _remove(self, ctx: TenantContext, scope: str, subject_id: object) -> Any:
        budgets.set_budget(ctx=ctx, scope=scope, subject_id=str(subject_id))  # no caps: removed
        self._show(ctx)
        return rx.toast.success(f"{scope.capitalize()} budget removed.")

    @rx.event
    @guarded(field_errors="run_errors")
    def save_run_limits(self, ctx: TenantContext, form: dict):
        budgets.set_run_limits(
            ctx=ctx,
            max_concurrent_runs=_text(form.get("max_concurrent_runs")),
            run_starts_per_minute=_text(form.get("run_starts_per_minute")),
        )
        self.run_errors = {}
        self._show(ctx)
        return rx.toast.success("Run limits saved.")


def _check_add(form: dict, subject_field: str, missing: str) -> dict[str, str]:
    """What an "add a budget" form lacks: its subject, or both amounts (which would mean "remove")."""
    errors = {"subject_id": missing} if not _text(form.get(subject_field)) else {}
    if not _text(form.get("monthly_usd")) and not _text(form.get("monthly_tokens")):
        errors["monthly_usd"] = "Enter a dollar amount or a token budget."
    return errors


def _text(value: object) -> str:
    """A form value as text ("" for anything that is not text: the browser sends any JSON)."""
    return value.strip() if isinstance(value, str) else ""
