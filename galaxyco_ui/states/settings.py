"""Workspace settings (/settings): the name, and whether to offer the audit log's page."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.services import workspaces
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.states.session import SessionState


class SettingsState(rx.State):
    name: str = ""
    name_error: str = ""
    can_rename: bool = False
    can_view_audit: bool = False
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.name = workspaces.get_workspace(ctx=ctx).name
        self.name_error = ""
        self.form_key += 1
        self.can_rename = can(ctx, Permission.RENAME_WORKSPACE)
        self.can_view_audit = can(ctx, Permission.VIEW_AUDIT_LOG)
        return None

    @rx.event
    @guarded(field_errors="name_error")
    def rename(self, ctx: TenantContext, form: dict):
        view = workspaces.rename_workspace(ctx=ctx, name=str(form.get("name", "")))
        self.name, self.name_error = view.name, ""
        return [rx.toast.success("Workspace renamed."), SessionState.refresh, SettingsState.load]
