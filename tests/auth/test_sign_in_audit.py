"""Sign-in and sign-out leave audit events in the user's workspaces (never a password)."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role, TenantContext
from galaxyco_ui.errors import AuthenticationError, TwoFactorRequiredError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, User
from galaxyco_ui.services import accounts, audit
from tests.factories import PASSWORD, add_member, make_team, make_user, set_columns, sign_in_as

WRONG = "not-the-password-123"


def events(action: str) -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_a_successful_sign_in_is_audited_in_each_of_the_users_workspaces():
    user = make_user()
    team = make_team()
    add_member(team.workspace_id, Role.MEMBER, user=user)

    accounts.sign_in(email=user.email, password=PASSWORD, ip="203.0.113.5")

    signed_in = events("user.signed_in")
    assert len(signed_in) == 2 and team.workspace_id in {e.workspace_id for e in signed_in}
    assert all(e.created_by == user.id and e.target_id == user.id for e in signed_in)
    assert all(e.meta == {"ip": "203.0.113.5"} for e in signed_in)


def test_a_wrong_password_is_audited_with_the_email_tried_and_never_the_password():
    user = make_user()

    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=f"  {user.email.upper()} ", password=WRONG, ip="198.51.100.7")

    [event] = events("user.sign_in_failed")
    assert event.created_by is None  # someone tried; not necessarily the user
    assert event.target_id == user.id
    assert event.data == {"email": user.email, "reason": "password"}
    assert event.meta == {"ip": "198.51.100.7"}
    assert WRONG not in repr(event.model_dump())
    assert events("user.signed_in") == []


def test_a_wrong_second_factor_is_audited_as_a_failed_sign_in():
    user = make_user()
    set_columns(User, user.id, totp_enabled=True)
    with pytest.raises(TwoFactorRequiredError):
        accounts.sign_in(email=user.email, password=PASSWORD)
    assert events("user.sign_in_failed") == []  # the right password, asked for a code

    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code="000000")

    [event] = events("user.sign_in_failed")
    assert event.data == {"email": user.email, "reason": "code"}


def test_a_sign_in_to_an_unknown_email_is_logged_without_any_audit_row(caplog):
    with (
        caplog.at_level(logging.WARNING, logger="galaxyco_ui.services.accounts"),
        pytest.raises(AuthenticationError),
    ):
        accounts.sign_in(email="nobody@example.com", password=WRONG, ip="198.51.100.7")
    [record] = [r for r in caplog.records if r.getMessage() == "Sign-in failed"]
    assert (record.email, record.reason, record.ip) == ("nobody@example.com", "password", "198.51.100.7")
    assert WRONG not in caplog.text
    with session_scope() as session:
        assert session.exec(select(AuditEvent)).all() == []


def test_failed_sign_ins_show_in_the_owners_audit_log_without_an_actor():
    user = make_user()
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password=WRONG)
    signed = sign_in_as(user)
    ctx = TenantContext(user_id=user.id, workspace_id=signed.auth.workspace_id or "", role=Role.OWNER)

    listed = audit.list_audit_events(ctx=ctx).events

    assert [e.action for e in listed[:2]] == ["user.signed_in", "user.sign_in_failed"]
    assert listed[1].actor_name == "System"
    assert listed[1].summary == f"Failed sign-in for {user.email} (wrong password)"


def test_signing_out_is_audited():
    signed = sign_in_as(make_user())
    accounts.sign_out(token=signed.token, ip="203.0.113.5")
    accounts.sign_out(token=signed.token, ip="203.0.113.5")  # the second time changes nothing
    [event] = events("user.signed_out")
    assert (event.workspace_id, event.created_by) == (signed.auth.workspace_id, signed.user.id)
    assert event.meta == {"ip": "203.0.113.5"}


def test_an_oauth_sign_in_is_audited_too():
    user = make_user()
    set_columns(User, user.id, email_verified=True)
    accounts.sign_in_with_oauth(
        provider="oidc",
        subject="sub-1",
        email=user.email,
        email_verified=True,
        name="Ada",
        ip="203.0.113.5",
    )
    [event] = events("user.signed_in")
    assert (event.created_by, event.summary, event.data) == (
        user.id,
        "Signed in with oidc",
        {"method": "oidc"},
    )
    assert event.meta == {"ip": "203.0.113.5"}
