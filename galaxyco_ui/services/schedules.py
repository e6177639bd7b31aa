"""Schedules: run an agent on a cron expression in a time zone, and the tick that fires them.

Firing is claimed atomically: a scheduler moves ``next_fire_at`` forward with a
compare-and-set update, and only the one whose update matched starts the run, so
several schedulers never fire one slot twice. The next slot is computed from *now*,
so a schedule missed during downtime fires once, not once per missed slot.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from cron_descriptor import get_description
from croniter import CroniterError, croniter
from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col, select

from galaxyco_ui import notifications
from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, can, require
from galaxyco_ui.errors import GalaxyError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, Schedule, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.agent_versions import check_version_number, version_exists
from galaxyco_ui.services.agents import live_agent
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.runs import start_run
from galaxyco_ui.services.validation import check_text, lookup_id
from galaxyco_ui.services.workers import recover_runs
from galaxyco_ui.services.workspaces import find_membership

log = logging.getLogger("galaxyco.schedules")
SKIPPED_SINCE = "skipped_since"  # Schedule.meta: the first slot of a notified streak of skipped slots
MAX_INPUT_CHARS = 20_000
CRON_MESSAGE = "Use five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5."
NEVER_FIRES = "This schedule never fires (no such date, like 31 February). Choose days that exist."
TIMEZONE_MESSAGE = "Use an IANA time zone such as Europe/Paris or America/New_York."


class ScheduleView(BaseModel):
    id: str
    agent_id: str
    cron: str
    timezone: str
    input: str
    enabled: bool
    description: str
    next_fires: list[str]  # the next three, in the schedule's zone, human readable
    last_fired_at: datetime | None
    last_run_id: str | None
    can_edit: bool
    created_at: datetime
    # The agent version each run uses (None: the latest at the time).
    agent_version: int | None = None


# ``update_schedule``'s default: keep the schedule's pinned version as it is.
KEEP: Literal["keep"] = "keep"


def describe(cron: str) -> str:
    try:
        return str(get_description(cron))
    except Exception:  # cron_descriptor raises several types for odd but valid input
        return cron


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first slot strictly after ``after`` (aware), as aware UTC; DST-correct in ``timezone``."""
    local = after.astimezone(ZoneInfo(timezone))
    slots = croniter(cron, local)
    fixed_hour = not cron.split()[1].startswith("*")
    while True:
        slot = slots.get_next(datetime)
        # croniter yields a fixed-time slot twice on a fall-back night (fold=1 is the repeat);
        # like cron, fire it once. Wildcard-hour schedules keep both passes (elapsed time).
        if not (fixed_hour and slot.fold):
            return slot.astimezone(UTC)


@functools.cache
def _time_zones() -> frozenset[str]:
    # The IANA names tzdata lists, not whatever ZoneInfo can open: "Europe" is a
    # directory, a 5,000-character name is an OSError, "posix/..." is not a zone name.
    return frozenset(available_timezones())


def validate(cron: str, timezone: str, text: str) -> tuple[str, str, str]:
    """Clean and check a schedule's fields, or raise ``ValidationError`` per field.

    Returns:
        (cron with single spaces, time zone, input stripped); an empty zone means UTC.
    """
    cron, timezone, text = (
        " ".join(check_text(cron, field="cron").split()),
        check_text(timezone, field="timezone").strip() or "UTC",
        check_text(text, field="input").strip(),
    )
    errors: dict[str, str] = {}
    if timezone not in _time_zones():
        errors["timezone"] = TIMEZONE_MESSAGE
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        errors["cron"] = CRON_MESSAGE
    elif "timezone" not in errors:
        try:
            next_fire(cron, timezone, utcnow())
        except CroniterError:  # croniter gives up on dates that never come
            errors["cron"] = NEVER_FIRES
    if not text:
        errors["input"] = "Write what the agent should do each time."
    elif len(text) > MAX_INPUT_CHARS:
        errors["input"] = f"Keep the input under {MAX_INPUT_CHARS:,} characters."
    if errors:
        raise ValidationError(errors)
    return cron, timezone, text


def _check_version(session: Session, agent: Agent, version: object) -> int | None:
    """``version`` (None: the latest) if the agent has it, else ``ValidationError`` on ``agent_version``."""
    if version is None:
        return None
    number = check_version_number(version, field="agent_version")
    if not version_exists(session, agent, number):
        raise ValidationError({"agent_version": f"This agent has no version {number}."})
    return number


def _check_enabled(enabled: object) -> None:
    # A handler argument: "false" would be truthy, and the database refuses a non-bool.
    if not isinstance(enabled, bool):
        raise ValidationError({"enabled": "Choose whether the schedule is on or off."})


def list_schedules(*, ctx: TenantContext, agent_id: str) -> list[ScheduleView]:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        live_agent(session, ctx, agent_id)
        rows = session.exec(
            select(Schedule)
            .where(
                Schedule.workspace_id == ctx.workspace_id,
                Schedule.agent_id == agent_id,
                col(Schedule.deleted_at).is_(None),
            )
            .order_by(col(Schedule.created_at))
        ).all()
        return [_view(s, ctx) for s in rows]


def list_workspace_schedules(
    *, ctx: TenantContext, cursor: str = "", limit: int = 50
) -> tuple[list[ScheduleView], str]:
    """One page of the schedules of every live agent of the workspace, newest first.

    Returns:
        (the page, the cursor of the next page or "" on the last).

    Raises:
        ValidationError: ``cursor`` is not one a previous page gave.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    limit = max(1, min(int(limit), 200))
    with session_scope() as session:
        query = (
            select(Schedule)
            .join(Agent, col(Agent.id) == col(Schedule.agent_id))
            .where(
                Schedule.workspace_id == ctx.workspace_id,
                Agent.workspace_id == ctx.workspace_id,
                col(Schedule.deleted_at).is_(None),
                col(Agent.deleted_at).is_(None),
            )
        )
        if cursor:
            query = query.where(older_than(cursor, col(Schedule.created_at), col(Schedule.id)))
        rows = session.exec(
            query.order_by(col(Schedule.created_at).desc(), col(Schedule.id).desc()).limit(limit + 1)
        ).all()
        page, more = rows[:limit], len(rows) > limit
        next_cursor = page_cursor(page[-1].created_at, page[-1].id) if more and page else ""
        return [_view(s, ctx) for s in page], next_cursor


def get_schedule(*, ctx: TenantContext, schedule_id: str) -> ScheduleView:
    """One schedule of the workspace (not deleted), else ``NotFoundError``."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        return _view(_schedule(session, ctx, schedule_id), ctx)


def create_schedule(
    *,
    ctx: TenantContext,
    agent_id: str,
    cron: str,
    timezone: str,
    input: str,
    enabled: bool = True,
    agent_version: int | None = None,
) -> ScheduleView:
    """Schedule runs of the agent; ``agent_version`` pins a version (None: always the latest)."""
    require(ctx, Permission.MANAGE_SCHEDULES)
    cron, timezone, text = validate(cron, timezone, input)
    _check_enabled(enabled)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        pinned = _check_version(session, agent, agent_version)
        schedule = Schedule(
            agent_version=pinned,
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            agent_id=agent.id,
            cron=cron,
            timezone=timezone,
            input=text,
            enabled=enabled,
            next_fire_at=next_fire(cron, timezone, utcnow()) if enabled else None,
        )
        session.add(schedule)
        audit.record(
            session,
            ctx,
            "schedule.created",
            summary=f"Scheduled “{agent.name}”: {describe(cron)}",
            target_type="schedule",
            target_id=schedule.id,
        )
        return _view(schedule, ctx)


def update_schedule(
    *,
    ctx: TenantContext,
    schedule_id: str,
    cron: str,
    timezone: str,
    input: str,
    enabled: bool,
    agent_version: int | Literal["keep"] | None = KEEP,
) -> ScheduleView:
    """Change a schedule; ``agent_version`` pins a version, None unpins, ``KEEP`` leaves it."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        schedule = _schedule(session, ctx, schedule_id)
        require(ctx, Permission.MANAGE_SCHEDULES, owner_id=schedule.created_by or "")
        cron, timezone, text = validate(cron, timezone, input)
        _check_enabled(enabled)
        if agent_version != KEEP:
            agent = live_agent(session, ctx, schedule.agent_id)
            schedule.agent_version = _check_version(session, agent, agent_version)
        schedule.cron, schedule.timezone, schedule.input, schedule.enabled = cron, timezone, text, enabled
        schedule.next_fire_at = next_fire(cron, timezone, utcnow()) if enabled else None
        schedule.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "schedule.updated",
            summary=f"Edited a schedule: {describe(cron)}",
            target_type="schedule",
            target_id=schedule.id,
        )
        return _view(schedule, ctx)


def delete_schedule(*, ctx: TenantContext, schedule_id: str) -> None:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        schedule = _schedule(session, ctx, schedule_id)
        require(ctx, Permission.MANAGE_SCHEDULES, owner_id=schedule.created_by or "")
        schedule.deleted_at = schedule.updated_at = utcnow()
        schedule.enabled, schedule.next_fire_at = False, None
        audit.record(
            session,
            ctx,
            "schedule.deleted",
            summary=f"Deleted a schedule ({describe(schedule.cron)})",
            target_type="schedule",
            target_id=schedule.id,
        )


# ---------------------------------------------------------------- the tick


def claim_due(now: datetime, *, limit: int = 100) -> list[tuple[Schedule, TenantContext | None]]:
    """Claim every due slot this scheduler wins; returns each schedule with its owner's context.

    The owner's context is None when they left the workspace (the schedule is then disabled).
    """
    claimed: list[tuple[Schedule, TenantContext | None]] = []
    with session_scope() as session:
        due = session.exec(
            select(Schedule)
            .where(
                col(Schedule.enabled).is_(True),
                col(Schedule.deleted_at).is_(None),
                col(Schedule.next_fire_at) <= now,
            )
            .limit(limit)
        ).all()
    for schedule in due:
        following = next_fire(schedule.cron, schedule.timezone, now)
        with session_scope() as session:
            won = session.exec(
                update(Schedule)
                .where(col(Schedule.id) == schedule.id, col(Schedule.next_fire_at) == schedule.next_fire_at)
                .values(next_fire_at=following, last_fired_at=now, updated_at=now)
            ).rowcount
            if won != 1:
                continue  # another scheduler fired this slot
            claimed.append((schedule, _owner_context(session, schedule)))
    return claimed


async def tick(now: datetime | None = None) -> list[str]:
    """Fire due schedules and fail runs whose worker was lost. Returns the started run ids."""
    now = now or utcnow()
    await recover_runs()  # lost runs failed, forgotten queued ones enqueued again
    started: list[str] = []
    for schedule, ctx in await asyncio.to_thread(claim_due, now):
        if ctx is None:
            await asyncio.to_thread(
                _disable, schedule.id, "The person who created this schedule left the workspace."
            )
            continue
        try:
            view = await start_run(
                ctx=ctx,
                agent_id=schedule.agent_id,
                input=schedule.input,
                trigger="schedule",
                schedule_id=schedule.id,
                version=schedule.agent_version,
            )
        except GalaxyError as exc:
            log.warning(
                "scheduled run not started", extra={"schedule_id": schedule.id, "reason": exc.message}
            )
            await notifications.announce(await asyncio.to_thread(_record_skip, schedule.id, now, exc.message))
            continue
        await asyncio.to_thread(_record_last_run, schedule.id, view.id)
        started.append(view.id)
    return started


def _owner_context(session: Session, schedule: Schedule) -> TenantContext | None:
    if not schedule.created_by:
        return None
    member = find_membership(session, workspace_id=schedule.workspace_id, user_id=schedule.created_by)
    if member is None:
        return None
    return TenantContext(
        user_id=schedule.created_by, workspace_id=schedule.workspace_id, role=Role(member.role)
    )


def _disable(schedule_id: str, reason: str) -> None:
    with session_scope() as session:
        schedule = session.get(Schedule, schedule_id)
        if schedule is not None:
            schedule.enabled, schedule.next_fire_at = False, None
            schedule.meta = {**schedule.meta, "disabled_reason": reason}


def _record_last_run(schedule_id: str, run_id: str) -> None:
    with session_scope() as session:
        schedule = session.get(Schedule, schedule_id)
        if schedule is not None:
            schedule.last_run_id = run_id
            if SKIPPED_SINCE in schedule.meta:  # the streak of skipped slots is over
                schedule.meta = {k: v for k, v in schedule.meta.items() if k != SKIPPED_SINCE}


def _record_skip(schedule_id: str, slot: datetime, reason: str) -> notifications.Announcement | None:
    """Tell the schedule's creator and the owners and admins that a slot was skipped.

    Once per streak: the first skipped slot since the schedule last started a run is
    notified (``meta["skipped_since"]`` marks the streak, ``_record_last_run`` ends it),
    so a schedule that fires every minute into a full workspace does not flood anyone.
    """
    with session_scope() as session:
        schedule = session.get(Schedule, schedule_id)
        if schedule is None or SKIPPED_SINCE in schedule.meta:
            return None
        schedule.meta = {**schedule.meta, SKIPPED_SINCE: slot.isoformat()}
        agent = session.get(Agent, schedule.agent_id)
        name = agent.name if agent is not None else "an agent"
        return notifications.record(
            session,
            workspace_id=schedule.workspace_id,
            kind="schedule_skipped",
            title=f"Scheduled run of {name} skipped",
            body=f"{reason} Later slots are skipped too while this lasts; you are told again "
            "after the schedule has started a run.",
            link=f"/agents/{schedule.agent_id}",
            user_ids=[schedule.created_by or ""],
            roles=[Role.OWNER, Role.ADMIN],
        )


def _schedule(session: Session, ctx: TenantContext, schedule_id: str) -> Schedule:
    key = lookup_id(schedule_id)
    schedule = session.get(Schedule, key) if key else None
    if schedule is None or schedule.workspace_id != ctx.workspace_id or schedule.deleted_at is not None:
        raise NotFoundError("That schedule")
    return schedule


def _view(schedule: Schedule, ctx: TenantContext) -> ScheduleView:
    fires: list[str] = []
    if schedule.enabled:
        at = utcnow()
        zone = ZoneInfo(schedule.timezone)
        for _ in range(3):
            at = next_fire(schedule.cron, schedule.timezone, at)
            fires.append(at.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z"))
    return ScheduleView(
        id=schedule.id,
        agent_id=schedule.agent_id,
        cron=schedule.cron,
        timezone=schedule.timezone,
        input=schedule.input,
        enabled=schedule.enabled,
        description=describe(schedule.cron),
        next_fires=fires,
        last_fired_at=schedule.last_fired_at,
        last_run_id=schedule.last_run_id,
        can_edit=can(ctx, Permission.MANAGE_SCHEDULES, owner_id=schedule.created_by or ""),
        created_at=schedule.created_at,
        agent_version=schedule.agent_version,
    )
