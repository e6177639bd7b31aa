"""The Runs screen (/runs): what is running now, live, and the filtered history by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.services import agents, runs, team
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.states.guard import guarded
from galaxyco_ui.states.live import follow_workspace_runs

REFRESH_INTERVAL = 0.5  # live monitor updates at most twice a second


def _date(value: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


class RunsState(rx.State):
    active: rx.Field[list[RunView]] = rx.field(default_factory=list)
    runs: rx.Field[list[RunView]] = rx.field(default_factory=list)
    next_cursor: str = ""
    page_cursors: rx.Field[list[str]] = rx.field(
        default_factory=list
    )  # cursors of the pages before this one ("" = first)
    status: rx.Field[str] = rx.field("")
    agent_id: rx.Field[str] = rx.field("")
    trigger: rx.Field[str] = rx.field("")
    member: rx.Field[str] = rx.field("")
    since: str = ""
    until: str = ""
    agent_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    member_options: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    loaded: bool = False
    _generation: int = 0
    _cursor: str = ""

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.agent_options = [[a.id, a.name] for a in agents.list_agents(ctx=ctx, sort="name")]
        self.member_options = [[m.user_id, m.name] for m in team.list_members(ctx=ctx)]
        self.page_cursors, self._cursor = [], ""
        self._refresh(ctx)
        self.loaded = True
        self._generation += 1
        return RunsState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy

    def _refresh(self, ctx: TenantContext) -> None:
        page = runs.list_runs(
            ctx=ctx,
            status=self.status,
            agent_id=self.agent_id,
            trigger=self.trigger,
            started_by=self.member,
            since=_date(self.since),
            until=_date(self.until, end=True),
            cursor=self._cursor,
        )
        self.runs, self.next_cursor = page.runs, page.next_cursor
        self.active = runs.list_active_runs(ctx=ctx)

    @rx.event
    @guarded
    def apply_filters(self, ctx: TenantContext, form: dict):
        self.status, self.agent_id = str(form.get("status", "")), str(form.get("agent_id", ""))
        self.trigger, self.member = str(form.get("trigger", "")), str(form.get("member", ""))
        self.since, self.until = str(form.get("since", "")), str(form.get("until", ""))
        self.page_cursors, self._cursor = [], ""
        self._refresh(ctx)

    @rx.event
    @guarded
    def clear_filters(self, ctx: TenantContext):
        self.status = self.agent_id = self.trigger = self.member = self.since = self.until = ""
        self.page_cursors, self._cursor = [], ""
        self._refresh(ctx)

    @rx.event
    @guarded
    def older(self, ctx: TenantContext):
        if self.next_cursor:
            self.page_cursors = [*self.page_cursors, self._cursor]
            self._cursor = self.next_cursor
        self._refresh(ctx)

    @rx.event
    @guarded
    def newer(self, ctx: TenantContext):
        if self.page_cursors:
            self._cursor = self.page_cursors[-1]
            self.page_cursors = self.page_cursors[:-1]
        self._refresh(ctx)

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Refresh the lists when a run of the workspace changes.

        The watch is the caller's own workspace's (from the session, never from state),
        and the session is resolved again on every refresh. One reader per workspace per
        process wakes every tab (``services.run_watch``); idle, a turn takes no lock and
        does no I/O: it checks that the tab is still connected and this is its newest loop
        (a new load of the page starts a new one).
        """
        await follow_workspace_runs(self, ctx, generation, _watches, self._refresh, interval=REFRESH_INTERVAL)


# The newest live loop of each tab on this process (client token -> its generation).
_watches: dict[str, int] = {}
