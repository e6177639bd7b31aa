"""Agents: list, read, create, edit, duplicate and soft-delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator
from sqlalchemy import String, cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, func, or_, select, update

from galaxyco_ui.auth.permissions import Permission, TenantContext, can, require
from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, AgentVersion, User, utcnow
from galaxyco_ui.providers.catalog import PROVIDER_KEYS, PROVIDER_LABELS
from galaxyco_ui.runs.approvals import HTTP_WRITE
from galaxyco_ui.runs.store import agent_snapshot
from galaxyco_ui.services import audit
from galaxyco_ui.services.knowledge import existing_collection_ids
from galaxyco_ui.services.mcp_servers import check_agent_mcp_tools
from galaxyco_ui.services.validation import lookup_id, name_key, one_line, parse, search_text
from galaxyco_ui.tools.catalog import SELECTABLE_TOOLS
from galaxyco_ui.tools.mcp_client import parse_entry

SortKey = Literal["updated", "name", "created"]
MAX_TAGS = 12
MAX_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600


class AgentInput(BaseModel):
    """What a user fills in to create or edit an agent."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    provider: str
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    instructions: Annotated[str, StringConstraints(max_length=20_000)] = ""
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_steps: int = Field(default=8, ge=1, le=50)
    max_output_tokens: int = Field(default=1024, ge=16, le=32_000)
    tools: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    # Checked against the workspace's collections by ``_check_collections``.
    knowledge_collection_ids: list[str] = Field(default_factory=list, max_length=20)
    # Entries of ``tools`` whose calls wait for a person (``runs/approvals.py``), and
    # "http_request:write": http_request with a method other than GET or HEAD.
    approval_tools: list[str] = Field(default_factory=list, max_length=200)
    approval_timeout_seconds: int = Field(default=3600, ge=60, le=MAX_APPROVAL_TIMEOUT_SECONDS)

    @field_validator("name", mode="before")
    @classmethod
    def _one_line_name(cls, v: object) -> object:
        return one_line(v) if isinstance(v, str) else v

    @field_validator("knowledge_collection_ids")
    @classmethod
    def _unique_ids(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str) -> str:
        if v not in PROVIDER_KEYS:
            raise ValueError("Choose a provider from the list.")
        return v

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, v: list[str]) -> list[str]:
        # MCP tools ("mcp:<server_id>:<tool>") are checked against the workspace's servers
        # by check_agent_mcp_tools, with the tool count.
        unknown = sorted(
            {t for t in v if parse_entry(t) is None or len(t) > 300} - {t.name for t in SELECTABLE_TOOLS}
        )
        if unknown:
            raise ValueError(f"Unknown tool: {', '.join(unknown)}.")
        return sorted(set(v))

    @field_validator("approval_tools")
    @classmethod
    def _approvals_of_enabled_tools(cls, v: list[str], info: ValidationInfo) -> list[str]:
        tools = set(info.data.get("tools") or ())  # validated first: declared before
        allowed = tools | ({HTTP_WRITE} if "http_request" in tools else set())
        unknown = sorted(set(v) - allowed)
        if unknown:
            shown = ", ".join(name[:100] for name in unknown[:5])
            raise ValueError(f"“Ask before running” names a tool the agent does not have: {shown}.")
        return sorted(set(v))

    @field_validator("tags", mode="before")
    @classmethod
    def _clean_tags(cls, v: object) -> list[str]:
        if isinstance(v, str):
            items: list[object] = list(v.split(","))
        elif isinstance(v, list | tuple | set):
            items = list(v)
        elif not v:
            items = []
        else:  # a number or an object from a hostile client: a message, not a crash
            raise ValueError("Enter the tags as text, separated by commas.")
        tags: list[str] = []
        for item in items:
            tag = " ".join(str(item).split()).lower()
            if tag and tag not in tags:
                if len(tag) > 32:
                    raise ValueError("Keep each tag under 32 characters.")
                tags.append(tag)
        if len(tags) > MAX_TAGS:
            raise ValueError(f"Use at most {MAX_TAGS} tags.")
        return tags


class AgentView(BaseModel):
    id: str
    name: str
    description: str
    provider: str
    provider_label: str
    model: str
    instructions: str
    temperature: float
    max_steps: int
    max_output_tokens: int
    tools: list[str]
    tags: list[str]
    knowledge_collection_ids: list[str]
    approval_tools: list[str] = []
    approval_timeout_seconds: int = 3600
    created_by: str
    created_by_name: str
    created_at: datetime
    updated_at: datetime
    can_edit: bool
    # The number of its latest saved version (services/agent_versions.py).
    version: int = 0


def list_agents(*, ctx: TenantContext, search: str = "", sort: SortKey = "updated") -> list[AgentView]:
    """The workspace's live agents, filtered by a name/description/tag search."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        query = (
            select(Agent, User.name)
            .join(User, col(User.id) == col(Agent.created_by), isouter=True)
            .where(Agent.workspace_id == ctx.workspace_id, col(Agent.deleted_at).is_(None))
        )
        if needle := search_text(search, max_chars=100).lower():
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            query = query.where(
                or_(
                    func.lower(Agent.name).like(pattern, escape="\\"),
                    func.lower(Agent.description).like(pattern, escape="\\"),
                    func.lower(Agent.model).like(pattern, escape="\\"),
                    # Tags are a JSON list; its text form is enough for a substring match.
                    func.lower(cast(Agent.tags, String)).like(pattern, escape="\\"),
                )
            )
        order = {
            "name": (func.lower(Agent.name),),
            "created": (col(Agent.created_at).desc(),),
            "updated": (col(Agent.updated_at).desc(),),
        }[sort if sort in ("name", "created", "updated") else "updated"]
        rows = session.exec(query.order_by(*order, col(Agent.id))).all()
        return [_view(agent, name, ctx) for agent, name in rows]


def get_agent(*, ctx: TenantContext, agent_id: str) -> AgentView:
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        creator = session.get(User, agent.created_by) if agent.created_by else None
        return _view(agent, creator.name if creator else None, ctx)


def create_agent(*, ctx: TenantContext, data: dict[str, object]) -> AgentView:
    """Create an agent.

    Raises:
        PermissionDeniedError: viewers.
        ValidationError / ConflictError: per-field problems, including a duplicate name.
    """
    require(ctx, Permission.CREATE_AGENT)
    values = parse(AgentInput, data)
    with session_scope() as session:
        _check_name_free(session, ctx, values.name)
        _check_collections(session, ctx, values.knowledge_collection_ids)
        check_agent_mcp_tools(session, ctx, values.tools)
        agent = Agent(workspace_id=ctx.workspace_id, created_by=ctx.user_id, **values.model_dump())
        session.add(agent)
        _flush_or_conflict(session)
        save_version(session, ctx, agent)
        audit.record(
            session,
            ctx,
            "agent.created",
            summary=f"Created agent “{agent.name}”",
            target_type="agent",
            target_id=agent.id,
        )
        creator = session.get(User, ctx.user_id)
        return _view(agent, creator.name if creator else None, ctx)


def update_agent(*, ctx: TenantContext, agent_id: str, data: dict[str, object]) -> AgentView:
    require(ctx, Permission.VIEW_WORKSPACE)
    values = parse(AgentInput, data)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        # "" rather than None: an agent without a known creator is nobody's own.
        require(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or "")
        _check_name_free(session, ctx, values.name, exclude_id=agent.id)
        _check_collections(session, ctx, values.knowledge_collection_ids)
        check_agent_mcp_tools(session, ctx, values.tools)
        changed = sorted(k for k, v in values.model_dump().items() if getattr(agent, k) != v)
        for key, value in values.model_dump().items():
            setattr(agent, key, value)
        agent.updated_at = utcnow()
        _flush_or_conflict(session)
        save_version(session, ctx, agent)
        if changed:
            audit.record(
                session,
                ctx,
                "agent.updated",
                summary=f"Edited agent “{agent.name}”",
                target_type="agent",
                target_id=agent.id,
                data={"fields": changed},
            )
        creator = session.get(User, agent.created_by) if agent.created_by else None
        return _view(agent, creator.name if creator else None, ctx)


def duplicate_agent(*, ctx: TenantContext, agent_id: str) -> AgentView:
    """Copy an agent as “<name> (copy)”, owned by the current user."""
    require(ctx, Permission.CREATE_AGENT)
    with session_scope() as session:
        source = live_agent(session, ctx, agent_id)
        name = _free_copy_name(session, ctx, source.name)
        fields = {k: getattr(source, k) for k in AgentInput.model_fields}
        agent = Agent(workspace_id=ctx.workspace_id, created_by=ctx.user_id, **{**fields, "name": name})
        session.add(agent)
        _flush_or_conflict(session)
        save_version(session, ctx, agent, note=f"Copy of “{source.name}”")
        audit.record(
            session,
            ctx,
            "agent.duplicated",
            summary=f"Duplicated “{source.name}” as “{name}”",
            target_type="agent",
            target_id=agent.id,
            data={"source_id": source.id},
        )
        creator = session.get(User, ctx.user_id)
        return _view(agent, creator.name if creator else None, ctx)


def delete_agent(*, ctx: TenantContext, agent_id: str) -> None:
    """Soft-delete an agent; its name becomes free again."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        require(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or "")
        agent.deleted_at = agent.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "agent.deleted",
            summary=f"Deleted agent “{agent.name}”",
            target_type="agent",
            target_id=agent.id,
        )


# ---------------------------------------------------------------- internals


def save_version(session: Session, ctx: TenantContext, agent: Agent, *, note: str = "") -> int | None:
    """Record ``agent``'s configuration (flushed) as its next ``AgentVersion``, in ``session``.

    Nothing is recorded when it equals the latest version (a save that changed nothing,
    or only the description or tags, which runs do not use).

    Returns:
        The new version's number, or None when nothing changed.
    """
    config = agent_snapshot(agent)
    if agent.version:
        latest = session.exec(
            select(AgentVersion.config).where(
                AgentVersion.agent_id == agent.id, AgentVersion.number == agent.version
            )
        ).first()
        if latest == config:
            return None
    # One atomic increment under the row lock the agent's update took: two saves at
    # once get two numbers (a stale ``agent.version`` would give both the same one).
    number = int(
        session.exec(
            update(Agent)
            .where(col(Agent.id) == agent.id)
            .values(version=col(Agent.version) + 1)
            .returning(col(Agent.version))
            .execution_options(synchronize_session=False)
        ).scalar_one()
    )
    set_committed_value(agent, "version", number)
    session.add(
        AgentVersion(
            workspace_id=agent.workspace_id,
            agent_id=agent.id,
            number=number,
            config=config,
            note=note[:200],
            created_by=ctx.user_id,
        )
    )
    session.flush()
    return number


def live_agent(session: Session, ctx: TenantContext, agent_id: str) -> Agent:
    """The workspace's agent ``agent_id`` if it exists and is not deleted, else ``NotFoundError``."""
    key = lookup_id(agent_id)
    agent = session.get(Agent, key) if key else None
    if agent is None or agent.workspace_id != ctx.workspace_id or agent.deleted_at is not None:
        raise NotFoundError("That agent")
    return agent


def _name_taken(session: Session, ctx: TenantContext, name: str, exclude_id: str | None = None) -> bool:
    # Compared in Python: SQLite's lower() folds ASCII only, so "Ärger" and "äRGER" would
    # be one name on PostgreSQL and two on SQLite (validation.name_key is the one rule).
    key = name_key(name)
    rows = session.exec(
        select(Agent.id, Agent.name).where(
            Agent.workspace_id == ctx.workspace_id, col(Agent.deleted_at).is_(None)
        )
    ).all()
    return any(name_key(other) == key for agent_id, other in rows if agent_id != exclude_id)


def _check_name_free(session: Session, ctx: TenantContext, name: str, exclude_id: str | None = None) -> None:
    if _name_taken(session, ctx, name, exclude_id):
        raise ConflictError({"name": f"An agent named “{name}” already exists in this workspace."})


def _check_collections(session: Session, ctx: TenantContext, ids: list[str]) -> None:
    if len(existing_collection_ids(session, ctx.workspace_id, ids)) != len(ids):
        raise ValidationError(
            {
                "knowledge_collection_ids": "A chosen knowledge collection no longer exists. Reload and choose again."
            }
        )


def _free_copy_name(session: Session, ctx: TenantContext, name: str) -> str:
    # Shorten the name, never the suffix: a cut suffix could repeat forever on long names.
    n = 1
    while True:
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[: 80 - len(suffix)].rstrip() + suffix
        if not _name_taken(session, ctx, candidate):
            return candidate
        n += 1


def _flush_or_conflict(session: Session) -> None:
    # The unique index is the real guard against two people saving the same name at once.
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError({"name": "An agent with this name already exists in this workspace."}) from None


def _view(agent: Agent, creator_name: str | None, ctx: TenantContext) -> AgentView:
    return AgentView(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        provider=agent.provider,
        provider_label=PROVIDER_LABELS.get(agent.provider, agent.provider),
        model=agent.model,
        instructions=agent.instructions,
        temperature=agent.temperature,
        max_steps=agent.max_steps,
        max_output_tokens=agent.max_output_tokens,
        tools=list(agent.tools),
        tags=list(agent.tags),
        knowledge_collection_ids=list(agent.knowledge_collection_ids),
        approval_tools=list(agent.approval_tools),
        approval_timeout_seconds=agent.approval_timeout_seconds,
        created_by=agent.created_by or "",
        created_by_name=creator_name or "Former member",
        created_at=agent.created_at,
        updated_at=agent.updated_at,
        can_edit=can(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or ""),
        version=agent.version,
    )
