"""The agent page's Run panel, its recent runs and its schedules."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import agent_versions, runs, schedules
from galaxyco_ui.services.runs import RunView
from galaxyco_ui.services.schedules import ScheduleView
from galaxyco_ui.states.guard import guarded


def _version_choice(value: object) -> int | None:
    """The schedule form's "Version" choice: "" is the latest, else a version number."""
    text = str(value).strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValidationError({"agent_version": "Choose the latest version or one from the list."})
    return int(text)


class AgentRunState(rx.State):
    agent_id: str = ""
    can_run: bool = False
    can_schedule: bool = False
    run_error: str = ""
    recent: rx.Field[list[RunView]] = rx.field(default_factory=list)
    schedules: rx.Field[list[ScheduleView]] = rx.field(default_factory=list)
    schedule_errors: dict[str, str] = {}
    schedule_form_key: int = 0
    starting: bool = False
    # (value, label) of the "Version" select of a new schedule: "" is the latest.
    version_choices: rx.Field[list[tuple[str, str]]] = rx.field(default_factory=list)

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        path = str(self.router.url.path).rstrip("/")
        self.agent_id = ""  # kept only once the service has found the agent here
        if path.endswith("/agents/new"):
            return None
        agent_id = path.rsplit("/", 1)[-1]
        self.run_error, self.schedule_errors = "", {}
        self.can_run = can(ctx, Permission.RUN_AGENT)
        self.can_schedule = can(ctx, Permission.MANAGE_SCHEDULES)
        try:
            self.schedules = schedules.list_schedules(ctx=ctx, agent_id=agent_id)
        except NotFoundError:
            self.schedules, self.recent = [], []
            return None
        self.agent_id = agent_id
        self.recent = runs.list_runs(ctx=ctx, agent_id=agent_id, limit=5).runs
        numbers = [v.number for v in agent_versions.list_versions(ctx=ctx, agent_id=agent_id)]
        self.version_choices = [("", "Latest"), *((str(n), f"Version {n}") for n in numbers)]
        return None

    @rx.event
    @guarded(field_errors="run_error", reset={"starting": False})
    async def run(self, ctx: TenantContext, form: dict):
        self.run_error, self.starting = "", True
        view = await runs.start_run(ctx=ctx, agent_id=self.agent_id, input=str(form.get("input", "")))
        self.starting = False
        return rx.redirect(f"/runs/{view.id}")

    @rx.event
    @guarded(field_errors="schedule_errors")
    def add_schedule(self, ctx: TenantContext, form: dict):
        schedules.create_schedule(
            ctx=ctx,
            agent_id=self.agent_id,
            cron=str(form.get("cron", "")),
            timezone=str(form.get("timezone", "")),
            input=str(form.get("input", "")),
            enabled=True,
            agent_version=_version_choice(form.get("agent_version", "")),
        )
        self.schedule_errors = {}
        self.schedule_form_key += 1
        return [rx.toast.success("Schedule added."), AgentRunState.load]

    @rx.event
    @guarded
    def toggle_schedule(self, ctx: TenantContext, schedule_id: str):
        # Read again through the service: the list in state is only what was shown.
        current = next(
            (s for s in schedules.list_schedules(ctx=ctx, agent_id=self.agent_id) if s.id == schedule_id),
            None,
        )
        if current is None:
            return None
        schedules.update_schedule(
            ctx=ctx,
            schedule_id=schedule_id,
            cron=current.cron,
            timezone=current.timezone,
            input=current.input,
            enabled=not current.enabled,
            agent_version=current.agent_version,
        )
        return AgentRunState.load

    @rx.event
    @guarded
    def delete_schedule(self, ctx: TenantContext, schedule_id: str):
        schedules.delete_schedule(ctx=ctx, schedule_id=schedule_id)
        return [rx.toast.success("Schedule deleted."), AgentRunState.load]
