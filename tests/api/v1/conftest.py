"""Fixtures for the /api/v1 tests: the app over ASGI and API keys for each role.

``api`` is an httpx client on the whole backend app (the same Starlette app Reflex
mounts), so requests go through routing, middleware and the FastAPI sub-app exactly as
in production. ``keys(team)`` makes one key per role of a team (the owner creates them;
owners get an admin key, the highest a key can have).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from galaxyco_ui.api import create_api
from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.models import ApiKey, utcnow
from galaxyco_ui.services import api_keys
from tests.factories import Team, set_columns

BASE = "http://testserver/api/v1"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_api()), base_url=BASE, timeout=30
    ) as client:
        yield client


@dataclass
class Keys:
    """Authorization headers for one workspace, one per role."""

    admin: dict[str, str]
    member: dict[str, str]
    viewer: dict[str, str]

    def for_role(self, role: Role | str) -> dict[str, str]:
        return getattr(self, Role(role).value if Role(role) is not Role.OWNER else "admin")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_key(team: Team, role: Role | str, *, name: str = "") -> str:
    """A new key's secret; created by the member of that role (owner for admin keys)."""
    creator = team.owner if Role(role) in (Role.ADMIN, Role.OWNER) else team.admin
    role_value = Role.ADMIN if Role(role) is Role.OWNER else Role(role)
    _view, secret = api_keys.create_api_key(ctx=creator, name=name or f"{role_value} key", role=role_value)
    return secret


def refused_callers(team: Team) -> dict[str, dict[str, str]]:
    """Authorization headers that must get a 401: none, malformed, wrong scheme, revoked, expired."""
    revoked = make_key(team, "admin", name="revoked")
    api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
    expired = make_key(team, "admin", name="expired")
    set_columns(
        ApiKey, api_keys.list_api_keys(ctx=team.owner)[0].id, expires_at=utcnow() - timedelta(minutes=1)
    )
    return {
        "signed out": {},
        "malformed": {"Authorization": "Bearer not-a-key"},
        "wrong scheme": {"Authorization": f"Basic {revoked}"},
        "revoked": bearer(revoked),
        "expired": bearer(expired),
    }


def make_keys(team: Team) -> Keys:
    return Keys(**{role: bearer(make_key(team, role)) for role in ("admin", "member", "viewer")})


@pytest.fixture
def keys(team: Team) -> Keys:
    return make_keys(team)


@pytest.fixture
def other_keys(other_team: Team) -> Keys:
    return make_keys(other_team)
