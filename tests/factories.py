"""Factories for tests: users, workspaces with members of each role, agents."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import pytest
from sqlmodel import Session, SQLModel, select

from galaxyco_ui.auth.passwords import hash_password
from galaxyco_ui.auth.permissions import Role, TenantContext
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import (
    Agent,
    AuditEvent,
    Budget,
    Invitation,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    Workspace,
    WorkspaceMember,
)
from galaxyco_ui.services import accounts
from galaxyco_ui.services import agents as agents_service
from galaxyco_ui.services.accounts import AuthSession, create_personal_workspace

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


@dataclass
class Team:
    """A workspace with one member of each role."""

    workspace_id: str
    owner: TenantContext
    admin: TenantContext
    member: TenantContext
    viewer: TenantContext

    def ctx(self, role: Role | str) -> TenantContext:
        return getattr(self, Role(role).value)


@functools.lru_cache(maxsize=8)
def _password_hash(password: str) -> str:
    # One hash per password for the whole run: argon2 costs milliseconds per call, and
    # sharing a (salted) hash between test users changes nothing about verification.
    return hash_password(password)


def _new_user(session: Session, *, name: str = "", email: str = "", password: str | None = PASSWORD) -> User:
    n = next(_seq)
    user = User(
        email=email or f"user{n}@example.com",
        name=name or f"User {n}",
        password_hash=_password_hash(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user


def make_user(
    *, name: str = "", email: str = "", password: str | None = PASSWORD, personal: bool = True
) -> User:
    with session_scope() as session:
        user = _new_user(session, name=name, email=email, password=password)
        if personal:
            create_personal_workspace(session, user)
        return user


def add_member(workspace_id: str, role: Role, *, user: User | None = None) -> TenantContext:
    with session_scope() as session:
        user = user or _new_user(session)
        session.add(WorkspaceMember(workspace_id=workspace_id, user_id=user.id, role=role))
    return TenantContext(user_id=user.id, workspace_id=workspace_id, role=role)


def make_team(name: str = "Acme") -> Team:
    with session_scope() as session:  # one transaction: most tests start with a team
        owner = _new_user(session)
        workspace = Workspace(name=name, created_by=owner.id)
        session.add(workspace)
        session.flush()
        contexts = {}
        for role in Role:
            user = owner if role is Role.OWNER else _new_user(session)
            session.add(WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role=role))
            contexts[role.value] = TenantContext(user_id=user.id, workspace_id=workspace.id, role=role)
        return Team(workspace_id=workspace.id, **contexts)


def agent_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": f"Agent {next(_seq)}",
        "description": "Answers questions",
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "instructions": "Be helpful.",
        "temperature": 0.3,
        "max_steps": 5,
        "max_output_tokens": 800,
        "tools": ["calculator"],
        "tags": ["support"],
    }
    data.update(overrides)
    return data


def make_agent(ctx: TenantContext, **overrides: object) -> agents_service.AgentView:
    return agents_service.create_agent(ctx=ctx, data=agent_data(**overrides))


def edit_agent(ctx: TenantContext, agent_id: str, **changes: object) -> agents_service.AgentView:
    """Save the agent through the service with ``changes`` over its current values."""
    current = agents_service.get_agent(ctx=ctx, agent_id=agent_id)
    data = {name: getattr(current, name) for name in agents_service.AgentInput.model_fields}
    return agents_service.update_agent(ctx=ctx, agent_id=agent_id, data={**data, **changes})


@pytest.fixture
def team() -> Team:
    return make_team()


@pytest.fixture
def other_team() -> Team:
    """A second workspace whose rows must stay invisible to ``team``."""
    return make_team("Foreign Corp")


# ---------------------------------------------------------------- direct database helpers


def insert_agent(workspace_id: str, *, created_by: str | None, **overrides: object) -> str:
    """Write an agent row directly, bypassing the service (and its permission checks).

    Returns:
        The new agent's id.
    """
    values = agent_data(**overrides)
    with session_scope() as session:
        agent = Agent(workspace_id=workspace_id, created_by=created_by, **values)
        session.add(agent)
        session.flush()
        return agent.id


def set_columns(model: type[SQLModel], row_id: str, **values: object) -> None:
    """Overwrite columns of one row (e.g. move an expiry into the past)."""
    with session_scope() as session:
        row = session.get(model, row_id)
        assert row is not None, f"no {model.__name__} {row_id}"
        for key, value in values.items():
            setattr(row, key, value)


def membership_id(ctx: TenantContext) -> str:
    """The ``WorkspaceMember`` id of ``ctx``'s user in ``ctx``'s workspace."""
    with session_scope() as session:
        member = session.exec(
            select(WorkspaceMember).where(
                WorkspaceMember.workspace_id == ctx.workspace_id, WorkspaceMember.user_id == ctx.user_id
            )
        ).one()
        return member.id


def workspace_rows(workspace_id: str) -> dict[str, list[dict[str, object]]]:
    """Every tenant row of a workspace, per table, to check that a call changed nothing."""
    tables = (Agent, AuditEvent, Budget, Invitation, WorkspaceMember, WebhookEndpoint, WebhookDelivery)
    with session_scope() as session:
        snapshot: dict[str, list[dict[str, object]]] = {
            model.__tablename__: sorted(
                (
                    row.model_dump()
                    for row in session.exec(select(model).where(model.workspace_id == workspace_id)).all()
                ),
                key=lambda r: str(r["id"]),
            )
            for model in tables
        }
        workspace = session.get(Workspace, workspace_id)
        snapshot["workspaces"] = [workspace.model_dump()] if workspace else []
        return snapshot


@dataclass
class SignedIn:
    """A user with a live browser session: the cookie token and what it resolves to."""

    user: User
    token: str
    auth: AuthSession


# The pre-auth cookie value of the test "browser" (tickets are bound to one).
BROWSER_BINDING = "test-browser-binding-value"


def sign_in_as(user: User, *, password: str = PASSWORD, ip: str = "") -> SignedIn:
    """Sign ``user`` in through the real flow (password → ticket → session token)."""
    ticket = accounts.sign_in(email=user.email, password=password, ip=ip, binding=BROWSER_BINDING)
    token = accounts.exchange_ticket(ticket=ticket, binding=BROWSER_BINDING)
    auth = accounts.resolve_session(token=token)
    assert auth is not None
    return SignedIn(user=user, token=token, auth=auth)
