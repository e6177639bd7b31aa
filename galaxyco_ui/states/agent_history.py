"""The agent page's History tab: its versions, a side-by-side diff of two, restore."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import agent_versions, agents
from galaxyco_ui.services.agent_versions import AgentVersionSummary, DiffLine, FieldChange
from galaxyco_ui.states.agent_run import AgentRunState
from galaxyco_ui.states.agents import AgentEditorState
from galaxyco_ui.states.guard import guarded

TABS = ("settings", "history")


def _number(value: object, field: str) -> int:
    """A version number the browser sent (a select's value), else ``ValidationError``."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:
        raise ValidationError({field: "Choose a version from the list."})
    return int(text)


class AgentHistoryState(rx.State):
    agent_id: str = ""
    tab: str = "settings"
    versions: rx.Field[list[AgentVersionSummary]] = rx.field(default_factory=list)
    can_restore: bool = False
    # The two versions compared (their numbers as the selects hold them), and the diff.
    left: str = ""
    right: str = ""
    changes: rx.Field[list[FieldChange]] = rx.field(default_factory=list)
    lines: rx.Field[list[DiffLine]] = rx.field(default_factory=list)
    error: str = ""

    @rx.var
    def version_options(self) -> list[tuple[str, str]]:
        return [
            (str(v.number), f"Version {v.number}" + (" (current)" if v.current else ""))
            for v in self.versions
        ]

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        """Open at ``?tab=history&version=N``: version N compared with the current one."""
        path = str(self.router.url.path).rstrip("/")
        self.agent_id, self.versions, self.changes, self.lines, self.error = "", [], [], [], ""
        self.tab = "settings"
        if path.endswith("/agents/new"):
            return None
        agent_id = path.rsplit("/", 1)[-1]
        params = self.router.url.query_parameters
        try:
            self._refresh(ctx, agent_id)
        except NotFoundError:
            return None
        self.agent_id = agent_id
        if params.get("tab") == "history":
            self.tab = "history"
        wanted = str(params.get("version", ""))
        if wanted.isdigit() and any(str(v.number) == wanted for v in self.versions):
            self.left = wanted
            self._compare(ctx)
        return None

    def _refresh(self, ctx: TenantContext, agent_id: str) -> None:
        self.versions = agent_versions.list_versions(ctx=ctx, agent_id=agent_id)
        self.can_restore = agents.get_agent(ctx=ctx, agent_id=agent_id).can_edit
        numbers = [str(v.number) for v in self.versions]
        # Default: the one before the current against the current (both the current with one).
        self.right = numbers[0] if numbers else ""
        self.left = numbers[1] if len(numbers) > 1 else self.right
        self.changes, self.lines = [], []

    def _compare(self, ctx: TenantContext) -> None:
        self.error = ""
        if not self.left or not self.right:
            self.changes, self.lines = [], []
            return
        diff = agent_versions.diff_versions(
            ctx=ctx,
            agent_id=self.agent_id,
            a=_number(self.left, "left"),
            b=_number(self.right, "right"),
        )
        self.changes, self.lines = diff.fields, diff.instructions

    @rx.event
    def set_tab(self, value: str):
        self.tab = value if value in TABS else "settings"

    @rx.event
    @guarded(field_errors="error")
    def pick_left(self, ctx: TenantContext, value: str):
        self.left = str(_number(value, "left"))
        self._compare(ctx)

    @rx.event
    @guarded(field_errors="error")
    def pick_right(self, ctx: TenantContext, value: str):
        self.right = str(_number(value, "right"))
        self._compare(ctx)

    @rx.event
    @guarded(field_errors="error")
    def compare(self, ctx: TenantContext, number: int):
        """Show version ``number`` against the current one."""
        self.left = str(_number(number, "left"))
        self.right = next((str(v.number) for v in self.versions if v.current), self.left)
        self._compare(ctx)

    @rx.event
    @guarded(field_errors="error")
    def restore(self, ctx: TenantContext, number: int):
        wanted = _number(number, "version")
        made = agent_versions.restore_version(ctx=ctx, agent_id=self.agent_id, number=wanted)
        self._refresh(ctx, self.agent_id)
        self.left = str(wanted)
        self._compare(ctx)
        # The form and the schedule's version choices show the agent as it is now.
        return [
            rx.toast.success(f"Restored version {wanted} as version {made.number}."),
            AgentEditorState.load,
            AgentRunState.load,
        ]
