"""Sign-up, sign-in, the one-time ticket, session resolution and revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.auth.tokens import hash_token
from galaxyco_ui.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User, UserSession, utcnow
from galaxyco_ui.services import accounts
from galaxyco_ui.services import profile as profile_service
from tests.factories import BROWSER_BINDING, PASSWORD, make_user, set_columns, sign_in_as

B = BROWSER_BINDING


def _session_row_for_ticket(ticket: str) -> UserSession:
    with session_scope() as session:
        return session.exec(select(UserSession).where(UserSession.ticket_hash == hash_token(ticket))).one()


# ---------------------------------------------------------------- sign-up and sign-in


def test_sign_up_returns_a_ticket_that_becomes_a_session():
    ticket = accounts.sign_up(
        email=" Grace@Example.com ", name="Grace  Hopper", password=PASSWORD, ip="10.0.0.1", binding=B
    )
    token = accounts.exchange_ticket(ticket=ticket, binding=B)
    auth = accounts.resolve_session(token=token)
    assert auth is not None
    assert (auth.email, auth.name, auth.role) == ("grace@example.com", "Grace Hopper", Role.OWNER)
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "grace@example.com")).one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")


def test_signing_up_twice_with_one_email_is_a_conflict():
    accounts.sign_up(email="dup@example.com", name="First", password=PASSWORD)
    with pytest.raises(ConflictError) as exc:
        accounts.sign_up(email="DUP@example.com", name="Second", password=PASSWORD)
    assert "already exists" in exc.value.field_errors["email"]


@pytest.mark.parametrize(
    ("email", "name", "password", "field"),
    [
        ("bad", "Name", PASSWORD, "email"),
        ("ok@example.com", "  ", PASSWORD, "name"),
        ("ok@example.com", "Name", "short", "password"),
    ],
)
def test_sign_up_refuses_bad_input_per_field(email, name, password, field):
    with pytest.raises(ValidationError) as exc:
        accounts.sign_up(email=email, name=name, password=password)
    assert list(exc.value.field_errors) == [field]
    with session_scope() as session:
        assert session.exec(select(User)).all() == []


def test_sign_in_returns_a_ticket_for_the_right_password():
    user = make_user()
    ticket = accounts.sign_in(email=user.email.upper(), password=PASSWORD, binding=B)
    auth = accounts.resolve_session(token=accounts.exchange_ticket(ticket=ticket, binding=B))
    assert auth is not None and auth.user_id == user.id


@pytest.mark.parametrize(
    ("email", "password"), [("known", "wrong password!"), ("nobody@example.com", PASSWORD)]
)
def test_sign_in_refuses_a_wrong_password_or_unknown_email_with_the_same_message(email, password):
    user = make_user()
    with pytest.raises(AuthenticationError, match=r"^Email or password is incorrect\.$"):
        accounts.sign_in(email=user.email if email == "known" else email, password=password)


def test_a_user_without_a_password_cannot_sign_in_with_one():
    user = make_user(password=None)
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password="")


# ---------------------------------------------------------------- the one-time ticket


def test_a_ticket_can_be_exchanged_only_once():
    ticket = accounts.sign_in(email=make_user().email, password=PASSWORD, binding=B)
    accounts.exchange_ticket(ticket=ticket, binding=B)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.exchange_ticket(ticket=ticket, binding=B)


def test_an_expired_ticket_is_refused():
    ticket = accounts.sign_in(email=make_user().email, password=PASSWORD, binding=B)
    row = _session_row_for_ticket(ticket)
    set_columns(UserSession, row.id, ticket_expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.exchange_ticket(ticket=ticket, binding=B)


@pytest.mark.parametrize("ticket", ["", "made-up"])
def test_an_unknown_ticket_is_refused(ticket):
    with pytest.raises(AuthenticationError):
        accounts.exchange_ticket(ticket=ticket, binding=B)


def test_only_hashes_of_the_ticket_and_token_are_stored():
    ticket = accounts.sign_in(email=make_user().email, password=PASSWORD, binding=B)
    session_id = _session_row_for_ticket(ticket).id
    token = accounts.exchange_ticket(ticket=ticket, binding=B)
    with session_scope() as session:
        row = session.get(UserSession, session_id)
        assert row is not None
        assert row.ticket_hash is None and row.ticket_expires_at is None
        assert row.token_hash is not None and token not in row.token_hash


# ---------------------------------------------------------------- resolving and signing out


def test_resolve_session_says_who_is_signed_in_and_where():
    user = make_user(name="Linus T")
    signed = sign_in_as(user)
    auth = signed.auth
    assert (auth.user_id, auth.email, auth.name, auth.role) == (user.id, user.email, "Linus T", Role.OWNER)
    assert auth.workspace_id is not None


@pytest.mark.parametrize("token", ["", "not-a-session-token"])
def test_an_unknown_token_resolves_to_nobody(token):
    assert accounts.resolve_session(token=token) is None


def test_a_pending_session_cannot_be_used_with_its_ticket_as_token():
    ticket = accounts.sign_in(email=make_user().email, password=PASSWORD, binding=B)
    assert accounts.resolve_session(token=ticket) is None


def test_sign_out_revokes_the_session():
    signed = sign_in_as(make_user())
    accounts.sign_out(token=signed.token)
    assert accounts.resolve_session(token=signed.token) is None
    accounts.sign_out(token=signed.token)  # signing out twice is harmless


def test_an_expired_session_resolves_to_nobody():
    signed = sign_in_as(make_user())
    set_columns(UserSession, signed.auth.session_id, expires_at=utcnow() - timedelta(seconds=1))
    assert accounts.resolve_session(token=signed.token) is None


def test_a_deleted_user_has_no_session():
    signed = sign_in_as(make_user())
    set_columns(User, signed.user.id, deleted_at=utcnow())
    assert accounts.resolve_session(token=signed.token) is None


def test_a_user_without_any_workspace_resolves_without_one():
    signed = sign_in_as(make_user(personal=False))
    assert (signed.auth.workspace_id, signed.auth.role) == (None, None)


# ---------------------------------------------------------------- managing sessions


def test_list_sessions_shows_live_sessions_and_marks_the_current_one():
    user = make_user()
    laptop = sign_in_as(user, ip="10.0.0.1")
    phone = sign_in_as(user, ip="10.0.0.2")
    accounts.sign_in(email=user.email, password=PASSWORD)  # a pending ticket is not a session yet
    gone = sign_in_as(user)
    accounts.sign_out(token=gone.token)
    listed = profile_service.list_sessions(user_id=user.id, current_session_id=phone.auth.session_id)
    assert {s.id: s.current for s in listed} == {laptop.auth.session_id: False, phone.auth.session_id: True}
    assert {s.ip for s in listed} == {"10.0.0.1", "10.0.0.2"}


def test_list_sessions_never_shows_another_users_sessions():
    mine = sign_in_as(make_user())
    sign_in_as(make_user())
    listed = profile_service.list_sessions(user_id=mine.user.id, current_session_id=mine.auth.session_id)
    assert [s.id for s in listed] == [mine.auth.session_id]


def test_revoking_one_of_ones_sessions_signs_it_out():
    user = make_user()
    current, other = sign_in_as(user), sign_in_as(user)
    profile_service.revoke_session(user_id=user.id, session_id=other.auth.session_id)
    assert accounts.resolve_session(token=other.token) is None
    assert accounts.resolve_session(token=current.token) is not None


def test_revoking_another_users_session_is_not_found():
    attacker, victim = sign_in_as(make_user()), sign_in_as(make_user())
    with pytest.raises(NotFoundError):
        profile_service.revoke_session(user_id=attacker.user.id, session_id=victim.auth.session_id)
    assert accounts.resolve_session(token=victim.token) is not None


def test_revoking_other_sessions_keeps_only_the_current_one():
    user = make_user()
    current, second, third = sign_in_as(user), sign_in_as(user), sign_in_as(user)
    bystander = sign_in_as(make_user())
    assert (
        profile_service.revoke_other_sessions(user_id=user.id, current_session_id=current.auth.session_id)
        == 2
    )
    assert accounts.resolve_session(token=current.token) is not None
    assert accounts.resolve_session(token=second.token) is None
    assert accounts.resolve_session(token=third.token) is None
    assert accounts.resolve_session(token=bystander.token) is not None


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 "
            "Edg/131.0",
            "Edge on Linux",
        ),
        ("", "Unknown browser"),
    ],
)
def test_sessions_are_labelled_by_browser_and_system(user_agent, label):
    assert profile_service.describe_user_agent(user_agent) == label
