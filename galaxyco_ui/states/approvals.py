"""Tool calls waiting for a person: the Approvals inbox (/approvals), the sidebar's count,
and approving or denying a call (the inbox and a run's page both use ``decide``).

The approval id a browser sends is a key for the service's lookup in the caller's
workspace, never proof of access; the service checks the role (viewers decide nothing).
"""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import approvals
from galaxyco_ui.services.approvals import ApprovalView
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.states.live import follow_workspace_runs

REFRESH_INTERVAL = 0.5  # the count and inbox update at most twice a second
MAX_NOTES = 50  # notes being written at once in one browser (one per card shown)


class ApprovalsState(rx.State):
    items: rx.Field[list[ApprovalView]] = rx.field(default_factory=list)
    next_cursor: str = ""
    count: int = 0
    loaded: bool = False
    can_decide: bool = False
    # The note typed under each card, by approval id (sent with the decision).
    notes: dict[str, str] = {}
    deciding: str = ""  # the approval id whose decision is on its way
    _generation: int = 0

    @rx.var
    def count_label(self) -> str:
        return "99+" if self.count > 99 else str(self.count)

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        page = approvals.list_pending_approvals(ctx=ctx)
        self.items, self.next_cursor = page.approvals, page.next_cursor
        self.count = approvals.count_pending_approvals(ctx=ctx)
        self.can_decide = can(ctx, Permission.RUN_AGENT)
        self.loaded = True

    @rx.event
    @guarded(load=True)
    def load_count(self, ctx: TenantContext):
        """The sidebar mounted: how many calls wait in this workspace, kept live from now on."""
        self.count = approvals.count_pending_approvals(ctx=ctx)
        self._generation += 1
        return ApprovalsState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy

    def _refresh(self, ctx: TenantContext) -> None:
        """A run of the workspace changed: the count, and the inbox's first page once loaded."""
        self.count = approvals.count_pending_approvals(ctx=ctx)
        if self.loaded:
            page = approvals.list_pending_approvals(ctx=ctx)
            self.items, self.next_cursor = page.approvals, page.next_cursor

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Keep the sidebar's count (and the inbox) live: a call starts or stops waiting
        only with a run status change, which the workspace's run stream carries. One loop
        per tab (each page's sidebar starts a newer one); see ``states.live``."""
        await follow_workspace_runs(self, ctx, generation, _watches, self._refresh, interval=REFRESH_INTERVAL)

    @rx.event
    @guarded
    def older(self, ctx: TenantContext):
        if not self.next_cursor:
            return
        page = approvals.list_pending_approvals(ctx=ctx, cursor=self.next_cursor)
        self.items = [*self.items, *page.approvals]
        self.next_cursor = page.next_cursor

    @rx.event
    def set_note(self, approval_id: str, value: str):
        if not isinstance(approval_id, str) or not isinstance(value, str):
            return
        key = approval_id[:64]
        if key not in self.notes and len(self.notes) >= MAX_NOTES:
            return
        self.notes = {**self.notes, key: value[: approvals.MAX_NOTE_CHARS + 1]}

    @rx.event
    @guarded(reset={"deciding": ""})
    async def decide(self, ctx: TenantContext, approval_id: str, decision: str):
        """Approve or deny one call with the note typed under it; the run resumes."""
        if decision not in ("approve", "deny"):
            raise ValidationError({"decision": "Choose approve or deny."})
        chosen: approvals.Decision = "approve" if decision == "approve" else "deny"
        key = str(approval_id)[:64]
        self.deciding = key
        view = await approvals.decide_approval(
            ctx=ctx, approval_id=key, decision=chosen, note=self.notes.get(key, "")
        )
        self.deciding = ""
        self.notes = {k: v for k, v in self.notes.items() if k != key}
        self.items = [a for a in self.items if a.id != view.id]
        self.count = approvals.count_pending_approvals(ctx=ctx)
        verb = "Approved" if view.status == "approved" else "Denied"
        return rx.toast.success(f"{verb}: the run goes on.")


# The newest live loop of each tab on this process (client token -> its generation).
_watches: dict[str, int] = {}
