"""The Runs screen (/runs): what is running now, live, and the filtered history by page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import reflex as rx

from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.runs.events import get_event_bus, workspace_stream
from galaxyco_ui.services import agents, runs, team
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.states.live import client_connected
from galaxyco_ui.states.session import error_toast, require_page_auth, tenant_context

REFRESH_INTERVAL = 0.5  # live monitor updates at most twice a second


def _date(value: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


class RunsState(rx.State):
    active: list[RunView] = []
    runs: list[RunView] = []
    next_cursor: str = ""
    page_cursors: list[str] = []  # cursors of the pages before this one ("" = first)
    status: str = ""
    agent_id: str = ""
    trigger: str = ""
    member: str = ""
    since: str = ""
    until: str = ""
    agent_options: list[list[str]] = []
    member_options: list[list[str]] = []
    loaded: bool = False
    _generation: int = 0
    _cursor: str = ""

    @rx.event
    def load(self):
        ctx = require_page_auth(self)
        if ctx is None:
            return None
        self.agent_options = [[a.id, a.name] for a in agents.list_agents(ctx=ctx, sort="name")]
        self.member_options = [[m.user_id, m.name] for m in team.list_members(ctx=ctx)]
        self.page_cursors, self._cursor = [], ""
        self._refresh(ctx)
        self.loaded = True
        self._generation += 1
        return RunsState.watch(self._generation)

    def _refresh(self, ctx) -> None:  # type: ignore[no-untyped-def]
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
    def apply_filters(self, form: dict):
        self.status, self.agent_id = form.get("status", ""), form.get("agent_id", "")
        self.trigger, self.member = form.get("trigger", ""), form.get("member", "")
        self.since, self.until = form.get("since", ""), form.get("until", "")
        self.page_cursors, self._cursor = [], ""
        return self._reload()

    @rx.event
    def clear_filters(self):
        self.status = self.agent_id = self.trigger = self.member = self.since = self.until = ""
        self.page_cursors, self._cursor = [], ""
        return self._reload()

    @rx.event
    def older(self):
        if self.next_cursor:
            self.page_cursors = [*self.page_cursors, self._cursor]
            self._cursor = self.next_cursor
        return self._reload()

    @rx.event
    def newer(self):
        if self.page_cursors:
            self._cursor = self.page_cursors[-1]
            self.page_cursors = self.page_cursors[:-1]
        return self._reload()

    def _reload(self):  # type: ignore[no-untyped-def]
        try:
            self._refresh(tenant_context(self))
        except GalaxyError as exc:
            return error_toast(exc)
        return None

    @rx.event(background=True)
    async def watch(self, generation: int):
        """Follow the workspace's run events and refresh the lists when runs change."""
        async with self:
            ctx_ok = require_page_auth(self)
        if ctx_ok is None:
            return
        bus = get_event_bus()
        stream = workspace_stream(ctx_ok.workspace_id)
        # Follow only what comes next: the lists were just loaded from the database.
        cursor = await bus.last_id(stream) or ""
        while True:
            async with self:
                if generation != self._generation or not client_connected(self):
                    return
            events = await bus.read(stream, after=cursor or None, wait=2.0)
            if not events:
                continue
            cursor = events[-1].id
            async with self:
                if generation != self._generation:
                    return
                self._reload()
            await asyncio.sleep(REFRESH_INTERVAL)
