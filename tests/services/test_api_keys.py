"""Workspace API keys: shown once, stored as a hash, admin-only, scoped to their workspace,
acting with no more than their creator's current role, revoked at once, rate limited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from galaxyco_ui.infra.db import get_engine, session_scope
from galaxyco_ui.models import ApiKey, AuditEvent, Workspace, utcnow
from galaxyco_ui.services import agents, api_keys
from galaxyco_ui.services import team as team_service
from tests.factories import make_agent, membership_id, set_columns


@pytest.fixture(autouse=True)
def _fresh_limit_cache() -> Iterator[None]:
    api_keys.reset_limit_cache()
    yield
    api_keys.reset_limit_cache()


@pytest.fixture
def operator_max(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set ``API_MAX_REQUESTS_PER_MINUTE`` for one test."""

    def set_max(value: int) -> None:
        monkeypatch.setenv("API_MAX_REQUESTS_PER_MINUTE", str(value))
        reset_settings()

    yield set_max
    monkeypatch.delenv("API_MAX_REQUESTS_PER_MINUTE", raising=False)
    reset_settings()


def _key_row(key_id: str) -> ApiKey:
    with session_scope() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        return row


def _actions(workspace_id: str) -> list[AuditEvent]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEvent).where(
                    AuditEvent.workspace_id == workspace_id, AuditEvent.action.startswith("api_key.")
                )
            ).all()
        )


# ---------------------------------------------------------------- creating, listing, revoking


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_create_a_key_shown_once_and_stored_only_as_its_hash(team, role):
    view, secret = api_keys.create_api_key(ctx=team.ctx(role), name="CI pipeline", role="member")

    assert secret.startswith("gx_") and len(secret) == 46
    assert view.prefix == secret[:11] and view.status == "active" and view.role == "member"
    assert _key_row(view.id).secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    with get_engine().connect() as conn:
        stored = [
            str(value)
            for table in ("api_keys", "audit_events")
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608  (fixed names)
            for value in row
        ]
    assert not any(secret in value for value in stored)
    assert secret not in view.model_dump_json()
    listed = api_keys.list_api_keys(ctx=team.admin)
    assert [(k.id, k.prefix, k.status) for k in listed] == [(view.id, secret[:11], "active")]
    assert secret not in "".join(k.model_dump_json() for k in listed)
    [event] = _actions(team.workspace_id)
    assert (event.action, event.target_id, event.created_by) == (
        "api_key.created",
        view.id,
        team.ctx(role).user_id,
    )


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_create_list_or_revoke_keys(team, role):
    view, _ = api_keys.create_api_key(ctx=team.admin, name="Existing", role="viewer")
    ctx = team.ctx(role)
    with pytest.raises(PermissionDeniedError):
        api_keys.create_api_key(ctx=ctx, name="Mine", role="viewer")
    with pytest.raises(PermissionDeniedError):
        api_keys.list_api_keys(ctx=ctx)
    with pytest.raises(PermissionDeniedError):
        api_keys.revoke_api_key(ctx=ctx, key_id=view.id)
    with pytest.raises(PermissionDeniedError):
        api_keys.set_api_rate_limit(ctx=ctx, per_minute=10)
    assert [(k.name, k.status) for k in api_keys.list_api_keys(ctx=team.owner)] == [("Existing", "active")]


@pytest.mark.parametrize("role", ["owner", "superuser", "", "ADMIN"])
def test_a_key_above_the_creators_role_or_of_no_known_role_is_refused(team, role):
    with pytest.raises(ValidationError) as exc:
        api_keys.create_api_key(ctx=team.admin, name="Too strong", role=role)
    assert set(exc.value.field_errors) == {"role"}
    assert api_keys.list_api_keys(ctx=team.owner) == []


def test_the_roles_a_key_may_have_are_never_above_its_creators():
    assert api_keys.key_roles_for(Role.OWNER) == [Role.ADMIN, Role.MEMBER, Role.VIEWER]
    assert api_keys.key_roles_for(Role.ADMIN) == [Role.ADMIN, Role.MEMBER, Role.VIEWER]
    assert api_keys.key_roles_for(Role.MEMBER) == [Role.MEMBER, Role.VIEWER]
    assert api_keys.key_roles_for(Role.VIEWER) == [Role.VIEWER]


def test_a_name_is_unique_among_the_keys_that_are_not_revoked(team, other_team):
    first, _ = api_keys.create_api_key(ctx=team.admin, name="Zapier", role="member")
    with pytest.raises(ConflictError) as exc:
        api_keys.create_api_key(ctx=team.owner, name="  zapier ", role="viewer")
    assert set(exc.value.field_errors) == {"name"}
    api_keys.create_api_key(ctx=other_team.admin, name="Zapier", role="member")  # another workspace

    api_keys.revoke_api_key(ctx=team.admin, key_id=first.id)
    again, _ = api_keys.create_api_key(ctx=team.admin, name="Zapier", role="member")
    statuses = [(k.id, k.status) for k in api_keys.list_api_keys(ctx=team.admin)]
    assert statuses == [(again.id, "active"), (first.id, "revoked")]  # newest first


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "bad\x00name", "a\u202eb"])
def test_a_bad_name_is_refused_on_its_field(team, name):
    with pytest.raises(ValidationError) as exc:
        api_keys.create_api_key(ctx=team.admin, name=name, role="member")
    assert set(exc.value.field_errors) == {"name"}


def test_an_expiry_in_the_past_is_refused_and_a_future_one_is_kept(team):
    with pytest.raises(ValidationError) as exc:
        api_keys.create_api_key(
            ctx=team.admin, name="Old", role="member", expires_at=utcnow() - timedelta(minutes=1)
        )
    assert set(exc.value.field_errors) == {"expires_at"}
    assert api_keys.list_api_keys(ctx=team.admin) == []
    later = utcnow() + timedelta(days=30)
    view, _ = api_keys.create_api_key(ctx=team.admin, name="Month", role="member", expires_at=later)
    assert view.expires_at == later and view.status == "active"


@pytest.mark.parametrize("hostile", ["", "nope", "\x00", "x" * 5000, "\ud800"])
def test_revoking_another_workspaces_key_or_a_hostile_id_is_not_found(team, other_team, hostile):
    view, secret = api_keys.create_api_key(ctx=team.admin, name="Ours", role="member")
    with pytest.raises(NotFoundError):
        api_keys.revoke_api_key(ctx=other_team.owner, key_id=view.id)
    with pytest.raises(NotFoundError):
        api_keys.revoke_api_key(ctx=team.owner, key_id=hostile)
    assert api_keys.list_api_keys(ctx=other_team.owner) == []
    assert api_keys.authenticate_api_key(secret).workspace_id == team.workspace_id


# ---------------------------------------------------------------- authenticating


def test_a_key_acts_in_its_workspace_as_its_creator_with_its_own_role(team, other_team):
    view, secret = api_keys.create_api_key(ctx=team.admin, name="Bot", role="member")
    foreign = make_agent(other_team.owner)

    ctx = api_keys.authenticate_api_key(secret, ip="203.0.113.9")

    assert (ctx.workspace_id, ctx.user_id, ctx.role) == (team.workspace_id, team.admin.user_id, Role.MEMBER)
    assert (ctx.api_key_id, ctx.ip, ctx.session_id) == (view.id, "203.0.113.9", None)
    with pytest.raises(NotFoundError):
        agents.get_agent(ctx=ctx, agent_id=foreign.id)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "gx_",
        "gx_short",
        "Bearer gx_" + "a" * 43,
        "gx_" + "a" * 43,
        "gx_" + "a" * 42 + "!",
        "GX_" + "a" * 43,
    ],
)
def test_a_malformed_or_unknown_key_is_refused(team, secret):
    api_keys.create_api_key(ctx=team.admin, name="Real", role="member")
    with pytest.raises(AuthenticationError, match=r"^Invalid API key\.$"):
        api_keys.authenticate_api_key(secret)


def test_a_wrong_key_that_differs_by_one_character_is_refused(team):
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Real", role="member")
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        api_keys.authenticate_api_key(wrong)


def test_revoking_a_key_refuses_its_very_next_request(team):
    view, secret = api_keys.create_api_key(ctx=team.admin, name="Leaked", role="admin")
    api_keys.authenticate_api_key(secret)

    api_keys.revoke_api_key(ctx=team.owner, key_id=view.id)

    with pytest.raises(AuthenticationError, match="This API key was revoked"):
        api_keys.authenticate_api_key(secret)
    row = _key_row(view.id)
    assert row.revoked_by == team.owner.user_id and row.revoked_at is not None
    assert [e.action for e in _actions(team.workspace_id)].count("api_key.revoked") == 1
    api_keys.revoke_api_key(ctx=team.owner, key_id=view.id)  # again: nothing changes
    assert [e.action for e in _actions(team.workspace_id)].count("api_key.revoked") == 1


def test_an_expired_key_is_refused_and_listed_as_expired(team):
    view, secret = api_keys.create_api_key(
        ctx=team.admin, name="Short", role="member", expires_at=utcnow() + timedelta(hours=1)
    )
    set_columns(ApiKey, view.id, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(AuthenticationError, match="This API key expired"):
        api_keys.authenticate_api_key(secret)
    assert api_keys.list_api_keys(ctx=team.admin)[0].status == "expired"


def test_demoting_the_creator_lowers_what_their_keys_may_do(team):
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Admin bot", role="admin")
    assert api_keys.authenticate_api_key(secret).role is Role.ADMIN

    team_service.change_role(ctx=team.owner, member_id=membership_id(team.admin), role="viewer")

    assert api_keys.authenticate_api_key(secret).role is Role.VIEWER


def test_an_owners_admin_key_stays_admin(team):
    _, secret = api_keys.create_api_key(ctx=team.owner, name="Owner's bot", role="admin")
    assert api_keys.authenticate_api_key(secret).role is Role.ADMIN


def test_a_key_whose_creator_left_the_workspace_is_refused(team):
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Ex-colleague's", role="member")

    team_service.remove_member(ctx=team.owner, member_id=membership_id(team.admin))

    with pytest.raises(AuthenticationError):
        api_keys.authenticate_api_key(secret)


def test_a_key_of_a_deleted_workspace_is_refused(team):
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Gone", role="member")
    set_columns(Workspace, team.workspace_id, deleted_at=utcnow())
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        api_keys.authenticate_api_key(secret)


def test_last_used_is_recorded_at_most_once_a_minute(team):
    view, secret = api_keys.create_api_key(ctx=team.admin, name="Busy", role="member")
    assert _key_row(view.id).last_used_at is None

    api_keys.authenticate_api_key(secret)
    first = _key_row(view.id).last_used_at
    assert first is not None
    api_keys.authenticate_api_key(secret)
    assert _key_row(view.id).last_used_at == first  # within the minute: no write

    set_columns(ApiKey, view.id, last_used_at=first - timedelta(seconds=61))
    api_keys.authenticate_api_key(secret)
    latest = _key_row(view.id).last_used_at
    assert latest is not None and latest > first - timedelta(seconds=1)
    assert api_keys.list_api_keys(ctx=team.admin)[0].last_used_at == latest


# ---------------------------------------------------------------- rate limit


def test_the_fourth_request_within_a_minute_of_a_limit_of_three_is_refused(team):
    api_keys.set_api_rate_limit(ctx=team.admin, per_minute=3)
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Limited", role="member")
    ctx = api_keys.authenticate_api_key(secret)
    for _ in range(3):
        api_keys.check_api_rate(ctx)

    with pytest.raises(RateLimitedError) as exc:
        api_keys.check_api_rate(ctx)

    assert 1 <= exc.value.retry_after <= 60
    assert "3 requests" in exc.value.message


def test_the_limit_counts_each_key_on_its_own(team):
    api_keys.set_api_rate_limit(ctx=team.admin, per_minute=2)
    _, first = api_keys.create_api_key(ctx=team.admin, name="One", role="member")
    _, second = api_keys.create_api_key(ctx=team.admin, name="Two", role="member")
    one, two = api_keys.authenticate_api_key(first), api_keys.authenticate_api_key(second)
    api_keys.check_api_rate(one)
    api_keys.check_api_rate(one)
    with pytest.raises(RateLimitedError):
        api_keys.check_api_rate(one)
    api_keys.check_api_rate(two)
    api_keys.check_api_rate(two)


def test_a_workspace_limit_above_the_operators_maximum_is_clamped(team, operator_max):
    operator_max(4)
    set_columns(Workspace, team.workspace_id, api_requests_per_minute=50)  # set before the maximum fell
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Greedy", role="member")
    ctx = api_keys.authenticate_api_key(secret)
    assert api_keys.get_api_rate_limit(ctx=team.admin) == (4, 4)
    for _ in range(4):
        api_keys.check_api_rate(ctx)
    with pytest.raises(RateLimitedError):
        api_keys.check_api_rate(ctx)
    with pytest.raises(ValidationError) as exc:
        api_keys.set_api_rate_limit(ctx=team.admin, per_minute=5)
    assert set(exc.value.field_errors) == {"per_minute"}


def test_without_a_workspace_limit_the_operators_maximum_applies(team, operator_max):
    operator_max(2)
    _, secret = api_keys.create_api_key(ctx=team.admin, name="Default", role="member")
    ctx = api_keys.authenticate_api_key(secret)
    api_keys.check_api_rate(ctx)
    api_keys.check_api_rate(ctx)
    with pytest.raises(RateLimitedError):
        api_keys.check_api_rate(ctx)


@pytest.mark.parametrize("per_minute", [0, -1, 601, True, "10", 2.5, None])
def test_a_rate_limit_out_of_range_or_not_a_whole_number_is_refused(team, per_minute):
    with pytest.raises(ValidationError) as exc:
        api_keys.set_api_rate_limit(ctx=team.admin, per_minute=per_minute)
    assert set(exc.value.field_errors) == {"per_minute"}
    assert api_keys.get_api_rate_limit(ctx=team.admin) == (600, 600)


def test_changing_the_rate_limit_is_audited_and_read_back(team):
    assert api_keys.get_api_rate_limit(ctx=team.owner) == (600, 600)
    api_keys.set_api_rate_limit(ctx=team.owner, per_minute=120)
    assert api_keys.get_api_rate_limit(ctx=team.admin) == (120, 600)
    with session_scope() as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "workspace.api_rate_limit_changed")
        ).all()
    assert (event.workspace_id, event.data) == (team.workspace_id, {"per_minute": 120, "previous": 600})
