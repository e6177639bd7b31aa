"""Agent versions: the history of an agent's saved configurations, a diff of two, a restore.

Every save that changes what a run uses (``runs.store.agent_snapshot``: name, model,
instructions, limits, tools, approvals, collections) adds the agent's next version in
the same transaction (``agents.save_version``); versions are never changed or deleted.
A restore is one more save: the next number, with an older version's configuration.
Runs and schedules may pin a version (``resolve_version``); ``agent@3`` names one.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, AgentVersion, User, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.agents import (
    AgentInput,
    _check_collections,
    _check_name_free,
    _flush_or_conflict,
    live_agent,
    save_version,
)
from galaxyco_ui.services.knowledge import collection_choices
from galaxyco_ui.services.validation import parse

MAX_VERSION = 1_000_000_000  # far above any agent's history; keeps hostile numbers off the database
_PINNED = re.compile(r"^(?P<agent>.+)@(?P<number>[0-9]{1,9})$", re.DOTALL)

# The fields a version shows, in order, with their labels (the snapshot's "id" is the agent's).
FIELDS: dict[str, str] = {
    "name": "Name",
    "provider": "Provider",
    "model": "Model",
    "instructions": "Instructions",
    "temperature": "Temperature",
    "max_steps": "Max steps",
    "max_output_tokens": "Max output tokens",
    "tools": "Tools",
    "knowledge_collection_ids": "Knowledge collections",
    "approval_tools": "Ask before running",
    "approval_timeout_seconds": "Approval timeout (seconds)",
}


class AgentVersionSummary(BaseModel):
    """One line of an agent's history."""

    id: str
    number: int
    note: str
    created_at: datetime
    created_by_name: str
    current: bool  # the agent's latest version, what an unpinned run uses


class AgentVersionView(AgentVersionSummary):
    agent_id: str
    config: dict[str, Any]


class FieldChange(BaseModel):
    """One field of two versions side by side, as text (lists joined by commas)."""

    field: str
    label: str
    before: str
    after: str
    changed: bool


class DiffLine(BaseModel):
    """One line of the instructions' line diff: kept, removed (in ``a`` only) or added."""

    kind: Literal["same", "removed", "added"]
    text: str


class VersionDiff(BaseModel):
    a: int
    b: int
    fields: list[FieldChange]
    instructions: list[DiffLine]


def list_versions(*, ctx: TenantContext, agent_id: str) -> list[AgentVersionSummary]:
    """The agent's versions, newest first.

    Raises:
        NotFoundError: no such live agent in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        rows = session.exec(
            select(AgentVersion, User.name)
            .join(User, col(User.id) == col(AgentVersion.created_by), isouter=True)
            .where(AgentVersion.agent_id == agent.id, AgentVersion.workspace_id == ctx.workspace_id)
            .order_by(col(AgentVersion.number).desc())
        ).all()
        return [_summary(version, name, agent) for version, name in rows]


def get_version(*, ctx: TenantContext, agent_id: str, number: int) -> AgentVersionView:
    """Version ``number`` of the agent, with its configuration.

    Raises:
        NotFoundError: no such agent, or no such version of it.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        version = _version(session, agent, number)
        creator = session.get(User, version.created_by) if version.created_by else None
        return _full(version, creator.name if creator else None, agent)


def diff_versions(*, ctx: TenantContext, agent_id: str, a: int, b: int) -> VersionDiff:
    """Versions ``a`` and ``b`` of the agent field by field; the instructions as a line diff.

    Raises:
        NotFoundError: no such agent, or either version does not exist.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        before, after = _version(session, agent, a).config, _version(session, agent, b).config
    names = dict(collection_choices(ctx=ctx))  # collections by name; a deleted one by its id
    fields = []
    for key, label in FIELDS.items():
        old, new = before.get(key), after.get(key)
        if key == "knowledge_collection_ids":
            old, new = ([names.get(str(c), str(c)) for c in v or []] for v in (old, new))
        old_text, new_text = _text(old), _text(new)
        fields.append(
            FieldChange(field=key, label=label, before=old_text, after=new_text, changed=old_text != new_text)
        )
    instructions = line_diff(_text(before.get("instructions")), _text(after.get("instructions")))
    return VersionDiff(a=a, b=b, fields=fields, instructions=instructions)


def restore_version(*, ctx: TenantContext, agent_id: str, number: int) -> AgentVersionView:
    """Make version ``number``'s configuration the agent's again, as its next version.

    The description and tags (not part of a version) stay as they are.

    Returns:
        The new version (note "Restored from version N").

    Raises:
        NotFoundError: no such agent or version.
        PermissionDeniedError: the caller may not edit the agent.
        ValidationError: it is already the agent's configuration, or it names a tool or
            knowledge collection that no longer exists (field ``version`` or the field).
        ConflictError: another agent now has its name.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        require(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or "")
        config = _version(session, agent, number).config
        current = {name: getattr(agent, name) for name in AgentInput.model_fields}
        values = parse(AgentInput, {**current, **{k: v for k, v in config.items() if k in current}})
        _check_name_free(session, ctx, values.name, exclude_id=agent.id)
        _check_collections(session, ctx, values.knowledge_collection_ids)
        for key, value in values.model_dump().items():
            setattr(agent, key, value)
        for key in ("approval_tools", "approval_timeout_seconds"):  # when AgentInput does not check them
            if key in config and key not in current:
                setattr(agent, key, config[key])
        agent.updated_at = utcnow()
        _flush_or_conflict(session)
        made = save_version(session, ctx, agent, note=f"Restored from version {number}")
        if made is None:
            raise ValidationError({"version": f"Version {number} is already this agent's configuration."})
        audit.record(
            session,
            ctx,
            "agent.version_restored",
            summary=f"Restored agent “{agent.name}” to version {number} (now version {made})",
            target_type="agent",
            target_id=agent.id,
            data={"restored": number, "version": made},
        )
        version = _version(session, agent, made)
        creator = session.get(User, ctx.user_id)
        return _full(version, creator.name if creator else None, agent)


def split_pin(reference: str) -> tuple[str, int | None]:
    """``"agent@3"`` → ``("agent", 3)``; a reference without ``@<number>`` → ``(reference, None)``."""
    found = _PINNED.match(reference.strip())
    if found is None:
        return reference, None
    return found["agent"], int(found["number"])


def check_version_number(number: object, *, field: str = "version") -> int:
    """``number`` as a version number (a positive int), else ``ValidationError`` on ``field``."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_VERSION:
        raise ValidationError({field: "A version is a whole number from 1 (the agent's first)."})
    return number


def pinned_config(session: Session, ctx: TenantContext, agent: Agent, number: int) -> dict[str, Any]:
    """The configuration of version ``number`` of ``agent`` (of ``ctx``'s workspace), for a run.

    Raises:
        NotFoundError: the agent has no such version.
    """
    if agent.workspace_id != ctx.workspace_id:
        raise NotFoundError("That agent")
    return dict(_version(session, agent, number).config)


def version_exists(session: Session, agent: Agent, number: int) -> bool:
    """Whether ``agent`` has a version ``number`` (the caller has checked the agent's workspace)."""
    return _find(session, agent, number) is not None


def line_diff(before: str, after: str) -> list[DiffLine]:
    """``before`` → ``after`` line by line: kept lines, then what was removed and added."""
    old, new = before.splitlines(), after.splitlines()
    lines: list[DiffLine] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            lines += [DiffLine(kind="same", text=t) for t in old[i1:i2]]
            continue
        lines += [DiffLine(kind="removed", text=t) for t in old[i1:i2]]
        lines += [DiffLine(kind="added", text=t) for t in new[j1:j2]]
    return lines


# ---------------------------------------------------------------- internals


def _find(session: Session, agent: Agent, number: int) -> AgentVersion | None:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_VERSION:
        return None
    return session.exec(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id,
            AgentVersion.workspace_id == agent.workspace_id,
            AgentVersion.number == number,
        )
    ).first()


def _version(session: Session, agent: Agent, number: int) -> AgentVersion:
    version = _find(session, agent, number)
    if version is None:
        raise NotFoundError(f"Version {number} of that agent" if isinstance(number, int) else "That version")
    return version


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _summary(version: AgentVersion, creator_name: str | None, agent: Agent) -> AgentVersionSummary:
    return AgentVersionSummary(
        id=version.id,
        number=version.number,
        note=version.note,
        created_at=version.created_at,
        created_by_name=creator_name or ("Former member" if version.created_by else "—"),
        current=version.number == agent.version,
    )


def _full(version: AgentVersion, creator_name: str | None, agent: Agent) -> AgentVersionView:
    return AgentVersionView(
        **_summary(version, creator_name, agent).model_dump(),
        agent_id=agent.id,
        config={k: v for k, v in version.config.items() if k != "id"},
    )
