"""The audit log (/settings/audit, admins and owners): filters, pages, CSV export."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, can
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import audit
from galaxyco_ui.services.audit import AuditActionGroup, AuditEventView
from galaxyco_ui.states.guard import guarded

AUDIT_PAGE = 50
# [value, label] of the Period choices; "" is the whole log.
PERIODS: dict[str, tuple[str, timedelta | None]] = {
    "": ("All time", None),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
}
# Actor choices are "user:<id>" or "api_key:<id>"; "" is anyone.
_ACTOR_KINDS = ("user", "api_key")


class AuditLogState(rx.State):
    can_view: bool = False
    loaded: bool = False
    owner_view: bool = False  # owners see the IP address column
    events: rx.Field[list[AuditEventView]] = rx.field(default_factory=list)
    next_cursor: str = ""
    # Cursors of the pages before this one ("" = the newest page); backend-only.
    _page_cursors: list[str] = []
    _cursor: str = ""
    has_newer: bool = False
    actor: rx.Field[str] = rx.field("")
    action: rx.Field[str] = rx.field("")
    period: rx.Field[str] = rx.field("")
    since: rx.Field[str] = rx.field("")  # "YYYY-MM-DD" or ""
    until: rx.Field[str] = rx.field("")
    # [value, label] of the people and API keys; the actions present, by area.
    actor_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    action_groups: rx.Field[list[AuditActionGroup]] = rx.field(default_factory=list)
    errors: dict[str, str] = {}  # "action" | "since" | "until" | "actor" → message
    export_note: str = ""
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.can_view = can(ctx, Permission.VIEW_AUDIT_LOG)
        self.owner_view = self.can_view and ctx.role is Role.OWNER
        self.actor = self.action = self.period = self.since = self.until = ""
        self.errors, self.export_note = {}, ""
        self.form_key += 1
        self._page_cursors, self._cursor = [], ""
        if not self.can_view:
            self.events, self.actor_options, self.action_groups = [], [], []
            self.next_cursor, self.has_newer, self.loaded = "", False, True
            return None
        options = audit.list_audit_filter_options(ctx=ctx)
        self.actor_options = [[f"{a.kind}:{a.id}", a.label] for a in options.actors]
        self.action_groups = options.action_groups
        self._refresh(ctx)
        self.loaded = True
        return None

    def _query(self) -> dict:
        """The service's filter arguments for the filters on screen.

        Raises:
            ValidationError: a date that is not one, or an unknown actor or period.
        """
        kind, _, actor_id = self.actor.partition(":")
        if self.actor and (kind not in _ACTOR_KINDS or not actor_id):
            raise ValidationError({"actor": "Choose someone from the list."})
        if self.period not in PERIODS:
            raise ValidationError({"period": "Choose a period from the list."})
        span = PERIODS[self.period][1]
        since = _day(self.since, "since")
        if span is not None:
            recent = datetime.now(UTC) - span
            since = max(since, recent) if since else recent
        until = _day(self.until, "until")
        return {
            "actor_id": actor_id if kind == "user" else "",
            "api_key_id": actor_id if kind == "api_key" else "",
            "action": self.action,
            "since": since,
            "until": until + timedelta(days=1) if until else None,  # the whole "To" day
        }

    def _refresh(self, ctx: TenantContext) -> None:
        page = audit.list_audit_events(ctx=ctx, limit=AUDIT_PAGE, cursor=self._cursor, **self._query())
        self.events, self.next_cursor = page.events, page.next_cursor
        self.has_newer = bool(self._page_cursors)

    @rx.event
    @guarded(field_errors="errors")
    def apply_filters(self, ctx: TenantContext, form: dict):
        self.actor, self.action = _text(form.get("actor")), _text(form.get("action"))
        self.period = _text(form.get("period"))
        self.since, self.until = _text(form.get("since")), _text(form.get("until"))
        self.errors, self.export_note = {}, ""
        self._page_cursors, self._cursor = [], ""
        self._refresh(ctx)

    @rx.event
    @guarded(field_errors="errors")
    def clear_filters(self, ctx: TenantContext):
        self.actor = self.action = self.period = self.since = self.until = ""
        self.errors, self.export_note = {}, ""
        self.form_key += 1
        self._page_cursors, self._cursor = [], ""
        self._refresh(ctx)

    @rx.event
    @guarded(field_errors="errors")
    def older(self, ctx: TenantContext):
        if self.next_cursor:
            self._page_cursors = [*self._page_cursors, self._cursor]
            self._cursor = self.next_cursor
        self._refresh(ctx)

    @rx.event
    @guarded(field_errors="errors")
    def newer(self, ctx: TenantContext):
        if self._page_cursors:
            self._cursor = self._page_cursors[-1]
            self._page_cursors = self._page_cursors[:-1]
        self._refresh(ctx)

    @rx.event
    @guarded(field_errors="errors")
    def download_csv(self, ctx: TenantContext):
        export = audit.export_audit_csv(ctx=ctx, **self._query())
        self.export_note = (
            f"The file holds the newest {export.rows:,} matching events: narrow the period "
            "or the filters to export older ones."
            if export.capped
            else ""
        )
        return rx.download(data=export.content, filename=export.filename, mime_type="text/csv")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _day(value: str, field: str) -> datetime | None:
    """A date field ("YYYY-MM-DD", or empty) as the start of that day in UTC.

    Raises:
        ValidationError: ``field``: not a date.
    """
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: "Enter a date, like 2026-01-31."}) from None
    if day >= date.max:
        raise ValidationError({field: "Choose an earlier date."})
    return datetime.combine(day, time(), tzinfo=UTC)
