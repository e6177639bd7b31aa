"""The agent page's Run panel, its recent runs and its schedules."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, can
from galaxyco_ui.errors import GalaxyError, NotFoundError, ValidationError
from galaxyco_ui.services import runs, schedules
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.services.schedules import ScheduleView
from galaxyco_ui.states.session import error_toast, require_page_auth, tenant_context


class AgentRunState(rx.State):
    agent_id: str = ""
    can_run: bool = False
    can_schedule: bool = False
    run_error: str = ""
    recent: list[RunView] = []
    schedules: list[ScheduleView] = []
    schedule_errors: dict[str, str] = {}
    schedule_form_key: int = 0
    starting: bool = False

    @rx.event
    def load(self):
        ctx = require_page_auth(self)
        path = str(self.router.url.path).rstrip("/")
        if ctx is None or path.endswith("/agents/new"):
            self.agent_id = ""
            return None
        self.agent_id = path.rsplit("/", 1)[-1]
        self.run_error, self.schedule_errors = "", {}
        self.can_run = can(ctx, Permission.RUN_AGENT)
        self.can_schedule = can(ctx, Permission.MANAGE_SCHEDULES)
        try:
            self.schedules = schedules.list_schedules(ctx=ctx, agent_id=self.agent_id)
        except NotFoundError:
            self.agent_id = ""
            return None
        self.recent = runs.list_runs(ctx=ctx, agent_id=self.agent_id, limit=5).runs
        return None

    @rx.event
    async def run(self, form: dict):
        self.run_error, self.starting = "", True
        try:
            view = await runs.start_run(
                ctx=tenant_context(self), agent_id=self.agent_id, input=form.get("input", "")
            )
        except ValidationError as exc:
            self.run_error, self.starting = exc.message, False
            return None
        except GalaxyError as exc:
            self.starting = False
            return error_toast(exc)
        self.starting = False
        return rx.redirect(f"/runs/{view.id}")

    @rx.event
    def add_schedule(self, form: dict):
        try:
            schedules.create_schedule(
                ctx=tenant_context(self),
                agent_id=self.agent_id,
                cron=form.get("cron", ""),
                timezone=form.get("timezone", ""),
                input=form.get("input", ""),
                enabled=True,
            )
        except ValidationError as exc:
            self.schedule_errors = exc.field_errors
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.schedule_errors = {}
        self.schedule_form_key += 1
        return [rx.toast.success("Schedule added."), AgentRunState.load]

    @rx.event
    def toggle_schedule(self, schedule_id: str):
        ctx = tenant_context(self)
        current = next((s for s in self.schedules if s.id == schedule_id), None)
        if current is None:
            return None
        try:
            schedules.update_schedule(
                ctx=ctx,
                schedule_id=schedule_id,
                cron=current.cron,
                timezone=current.timezone,
                input=current.input,
                enabled=not current.enabled,
            )
        except GalaxyError as exc:
            return error_toast(exc)
        return AgentRunState.load

    @rx.event
    def delete_schedule(self, schedule_id: str):
        try:
            schedules.delete_schedule(ctx=tenant_context(self), schedule_id=schedule_id)
        except GalaxyError as exc:
            return error_toast(exc)
        return [rx.toast.success("Schedule deleted."), AgentRunState.load]
