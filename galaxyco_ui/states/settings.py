"""Workspace settings (/settings): name and the audit log."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.services import audit, workspaces
from galaxyco_ui.services.audit import AuditEventView
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.states.session import SessionState

AUDIT_PAGE = 50


class SettingsState(rx.State):
    name: str = ""
    name_error: str = ""
    can_rename: bool = False
    can_view_audit: bool = False
    events: rx.Field[list[AuditEventView]] = rx.field(default_factory=list)
    more_events: bool = False
    # Where the next page of events starts; backend-only (never sent to the browser).
    _events_cursor: str = ""
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.name = workspaces.get_workspace(ctx=ctx).name
        self.name_error = ""
        self.form_key += 1
        self.can_rename = can(ctx, Permission.RENAME_WORKSPACE)
        self.can_view_audit = can(ctx, Permission.VIEW_AUDIT_LOG)
        if self.can_view_audit:
            page = audit.list_audit_events(ctx=ctx, limit=AUDIT_PAGE)
            self.events, self._events_cursor = page.events, page.next_cursor
            self.more_events = bool(page.next_cursor)
        return None

    @rx.event
    @guarded
    def load_more(self, ctx: TenantContext):
        if not self._events_cursor:
            return None
        older = audit.list_audit_events(ctx=ctx, limit=AUDIT_PAGE, cursor=self._events_cursor)
        self._events_cursor = older.next_cursor
        self.more_events = bool(older.next_cursor)
        self.events = self.events + older.events
        return None

    @rx.event
    @guarded(field_errors="name_error")
    def rename(self, ctx: TenantContext, form: dict):
        view = workspaces.rename_workspace(ctx=ctx, name=str(form.get("name", "")))
        self.name, self.name_error = view.name, ""
        return [rx.toast.success("Workspace renamed."), SessionState.refresh, SettingsState.load]
