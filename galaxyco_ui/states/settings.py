"""Workspace settings (/settings): name and the audit log."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, can
from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import audit, workspaces
from galaxyco_ui.services.audit import AuditEventView
from galaxyco_ui.states.session import SessionState, error_toast, require_page_auth, tenant_context

AUDIT_PAGE = 50


class SettingsState(rx.State):
    name: str = ""
    name_error: str = ""
    can_rename: bool = False
    can_view_audit: bool = False
    events: list[AuditEventView] = []
    more_events: bool = False
    form_key: int = 0

    @rx.event
    def load(self):
        ctx = require_page_auth(self)
        if ctx is None:
            return None
        self.name = workspaces.get_workspace(ctx=ctx).name
        self.name_error = ""
        self.form_key += 1
        self.can_rename = can(ctx, Permission.RENAME_WORKSPACE)
        self.can_view_audit = can(ctx, Permission.VIEW_AUDIT_LOG)
        if self.can_view_audit:
            self.events = audit.list_audit_events(ctx=ctx, limit=AUDIT_PAGE + 1)
            self.more_events = len(self.events) > AUDIT_PAGE
            self.events = self.events[:AUDIT_PAGE]
        return None

    @rx.event
    def load_more(self):
        if not self.events:
            return None
        try:
            older = audit.list_audit_events(
                ctx=tenant_context(self), limit=AUDIT_PAGE + 1, before=self.events[-1].created_at
            )
        except GalaxyError as exc:
            return error_toast(exc)
        self.more_events = len(older) > AUDIT_PAGE
        self.events = self.events + older[:AUDIT_PAGE]
        return None

    @rx.event
    def rename(self, form: dict):
        try:
            view = workspaces.rename_workspace(ctx=tenant_context(self), name=form.get("name", ""))
        except ValidationError as exc:
            self.name_error = exc.message
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.name, self.name_error = view.name, ""
        return [rx.toast.success("Workspace renamed."), SessionState.refresh, SettingsState.load]
