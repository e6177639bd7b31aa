"""Account security on the profile: password change signs others out, password and code
checks are throttled and run off the event loop, TOTP codes and recovery codes are good
once (even for two requests at the same instant), and every change is audited."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pyotp
import pytest
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import State
from sqlalchemy import event
from sqlmodel import col, select

from galaxyco_ui.auth import passwords, totp
from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.auth.tokens import SESSION_COOKIE
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import AuthenticationError, RateLimitedError, ValidationError
from galaxyco_ui.infra.db import get_engine, session_scope
from galaxyco_ui.models import AuditEvent, User, UserSession, Workspace, WorkspaceMember
from galaxyco_ui.services import accounts, audit
from galaxyco_ui.services import profile as profile_service
from galaxyco_ui.states.profile import ProfileState
from tests.factories import PASSWORD, SignedIn, add_member, make_user, sign_in_as

NEW_PASSWORD = "a-brand-new-long-password"


def _with_totp(user: User) -> tuple[str, list[str]]:
    secret, _ = profile_service.start_totp_setup(user_id=user.id)
    codes = profile_service.confirm_totp_setup(user_id=user.id, code=pyotp.TOTP(secret).now())
    return secret, codes


def _code(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


def _wrong_code(secret: str) -> str:
    now = int(pyotp.TOTP(secret).now())
    return f"{(now + 500_000) % 1_000_000:06d}"


def _personal_workspace(user: User) -> str:
    with session_scope() as session:
        return session.exec(select(Workspace.id).where(Workspace.created_by == user.id)).one()


# What the profile records; sign-in and sign-out events are tested with sign-in.
PROFILE_ACTIONS = (
    "user.2fa_enabled",
    "user.2fa_disabled",
    "user.recovery_codes_regenerated",
    "user.password_changed",
    "user.password_set",
    "user.session_revoked",
    "user.sessions_revoked",
)


def _account_events(workspace_id: str) -> list[AuditEvent]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == workspace_id, col(AuditEvent.action).in_(PROFILE_ACTIONS))
                .order_by(col(AuditEvent.created_at))
            ).all()
        )


def _actions(workspace_id: str) -> list[str]:
    return [e.action for e in _account_events(workspace_id)]


# ---------------------------------------------------------------- 1. password change signs others out


def test_changing_the_password_signs_out_every_other_session_and_keeps_this_one():
    user = make_user()
    here, laptop, phone = sign_in_as(user), sign_in_as(user), sign_in_as(user)
    bystander = sign_in_as(make_user())

    signed_out = profile_service.change_password(
        user_id=user.id,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        current_session_id=here.auth.session_id,
    )

    assert signed_out == 2
    assert accounts.resolve_session(token=here.token) is not None
    assert accounts.resolve_session(token=laptop.token) is None
    assert accounts.resolve_session(token=phone.token) is None
    assert accounts.resolve_session(token=bystander.token) is not None


def test_changing_the_password_cancels_a_sign_in_still_waiting_for_its_ticket_exchange():
    user = make_user()
    here = sign_in_as(user)
    accounts.sign_in(email=user.email, password=PASSWORD)  # a ticket not yet exchanged for a cookie
    profile_service.change_password(
        user_id=user.id,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        current_session_id=here.auth.session_id,
    )
    with session_scope() as session:
        rows = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert any(row.ticket_hash for row in rows)  # the pending sign-in is there...
    assert [row.id for row in rows if row.revoked_at is None] == [here.auth.session_id]  # ...and revoked


def test_changing_the_password_without_a_current_session_signs_out_all_of_them():
    user = make_user()
    sessions = [sign_in_as(user), sign_in_as(user)]
    assert (
        profile_service.change_password(user_id=user.id, current_password=PASSWORD, new_password=NEW_PASSWORD)
        == 2
    )
    assert all(accounts.resolve_session(token=s.token) is None for s in sessions)


def test_a_wrong_current_password_signs_nobody_out():
    user = make_user()
    here, other = sign_in_as(user), sign_in_as(user)
    with pytest.raises(ValidationError):
        profile_service.change_password(
            user_id=user.id,
            current_password="not the password",
            new_password=NEW_PASSWORD,
            current_session_id=here.auth.session_id,
        )
    assert accounts.resolve_session(token=other.token) is not None


# ---------------------------------------------------------------- 2. throttling the checks


def _fail_password(user: User) -> None:
    with pytest.raises(ValidationError):
        profile_service.change_password(
            user_id=user.id, current_password="not the password", new_password=NEW_PASSWORD
        )


def test_wrong_current_passwords_lock_the_check_and_then_even_the_right_one_is_not_checked(monkeypatch):
    user = make_user()
    for _ in range(get_settings().login_max_failures):
        _fail_password(user)
    monkeypatch.setattr(passwords, "verify_password", lambda *_: pytest.fail("checked while locked"))

    with pytest.raises(RateLimitedError) as exc:
        profile_service.change_password(user_id=user.id, current_password=PASSWORD, new_password=NEW_PASSWORD)

    assert str(exc.value) == "Too many wrong passwords or codes. Try again in 15 minutes."
    assert 0 < exc.value.retry_after <= get_settings().login_lockout_seconds
    monkeypatch.undo()
    assert sign_in_as(user)  # the old password still works: nothing was changed


def _lock_out(user: User) -> None:
    for _ in range(get_settings().login_max_failures):
        _fail_password(user)


@pytest.mark.parametrize("check", ["confirm setup", "regenerate recovery codes", "disable 2fa"])
def test_wrong_codes_lock_every_two_factor_check(check):
    user = make_user()
    if check == "confirm setup":
        secret, _ = profile_service.start_totp_setup(user_id=user.id)
        service: Callable[..., object] = profile_service.confirm_totp_setup
    else:
        secret, _ = _with_totp(user)
        service = (
            profile_service.regenerate_recovery_codes
            if check == "regenerate recovery codes"
            else profile_service.disable_totp
        )
    for _ in range(get_settings().login_max_failures):
        with pytest.raises(ValidationError):
            service(user_id=user.id, code=_wrong_code(secret))

    with pytest.raises(RateLimitedError):
        service(user_id=user.id, code=_code(secret, +1))

    expected_on = check != "confirm setup"
    assert profile_service.get_profile(user_id=user.id).totp_enabled is expected_on


def test_password_and_code_failures_add_up_to_one_lock_per_user():
    user = make_user()
    secret, _ = _with_totp(user)
    for _ in range(get_settings().login_max_failures - 1):
        _fail_password(user)
    with pytest.raises(ValidationError):
        profile_service.disable_totp(user_id=user.id, code=_wrong_code(secret))
    with pytest.raises(RateLimitedError):
        profile_service.disable_totp(user_id=user.id, code=_code(secret, +1))


def test_the_lock_is_per_user_and_does_not_stop_signing_in():
    user, other = make_user(), make_user()
    _lock_out(user)
    profile_service.change_password(user_id=other.id, current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert sign_in_as(user)  # someone guessing on a stolen session cannot lock the owner out of signing in


def test_a_right_password_clears_the_earlier_failures():
    user = make_user()
    limit = get_settings().login_max_failures
    for _ in range(limit - 1):
        _fail_password(user)
    profile_service.change_password(user_id=user.id, current_password=PASSWORD, new_password=NEW_PASSWORD)
    for _ in range(limit - 1):
        with pytest.raises(ValidationError):
            profile_service.change_password(
                user_id=user.id, current_password="still not it", new_password=PASSWORD
            )
    profile_service.change_password(user_id=user.id, current_password=NEW_PASSWORD, new_password=PASSWORD)


async def _profile_state(signed: SignedIn) -> ProfileState:
    """A ``ProfileState`` as a websocket event of ``signed``'s browser sees it."""
    router_data = {
        constants.RouteVar.HEADERS: {"cookie": f"{SESSION_COOKIE}={signed.token}", "user-agent": "pytest"},
        constants.RouteVar.CLIENT_IP: "198.51.100.20",
        constants.RouteVar.PATH: "/profile/security",
    }
    root = State(_reflex_internal_init=True)  # type: ignore[call-arg]
    root.router_data = router_data
    root.router = RouterData.from_router_data(router_data)
    return await root.get_state(ProfileState)


def _on_the_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_profile_handlers_check_passwords_and_codes_off_the_event_loop(monkeypatch):
    user = make_user()
    signed = sign_in_as(user)
    secret, _ = _with_totp(user)
    seen: list[tuple[str, bool]] = []
    real_verify, real_hash, real_code = passwords.verify_password, passwords.hash_password, totp.verify_code

    def spy(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            seen.append((name, _on_the_loop_thread()))
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(passwords, "verify_password", spy("verify", real_verify))
    monkeypatch.setattr(passwords, "hash_password", spy("hash", real_hash))
    monkeypatch.setattr(totp, "verify_code", spy("code", real_code))
    state = await _profile_state(signed)

    await ProfileState.change_password.fn(
        state, {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    await ProfileState.regenerate_codes.fn(state, {"code": _code(secret, +1)})
    await ProfileState.disable_totp.fn(state, {"code": _wrong_code(secret)})

    assert [name for name, _ in seen] == ["verify", "hash", "code", "code"]
    assert not any(on_loop for _, on_loop in seen), seen
    assert state.errors == {"disable_code": "That code is not valid."}


async def test_the_password_form_says_other_sessions_were_signed_out():
    user = make_user()
    signed, other = sign_in_as(user), sign_in_as(user)
    state = await _profile_state(signed)
    events = await ProfileState.change_password.fn(
        state, {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert "Your other sessions were signed out." in str(events)
    assert accounts.resolve_session(token=other.token) is None
    assert accounts.resolve_session(token=signed.token) is not None


async def test_a_locked_code_check_is_reported_on_the_form_not_raised():
    user = make_user()
    signed = sign_in_as(user)
    secret, _ = _with_totp(user)
    _lock_out(user)
    state = await _profile_state(signed)
    await ProfileState.regenerate_codes.fn(state, {"code": _code(secret, +1)})
    assert state.errors == {"regen_code": "Too many wrong passwords or codes. Try again in 15 minutes."}


async def test_hostile_form_values_get_a_clear_error_and_change_nothing():
    user = make_user()
    signed = sign_in_as(user)
    secret, _ = _with_totp(user)
    state = await _profile_state(signed)
    hostile = {"current_password": ["x"], "new_password": {"a": 1}, "confirm_password": {"a": 1}}
    assert await ProfileState.change_password.fn(state, hostile) is None
    assert state.errors == {"new_password": "Use at least 10 characters."}
    await ProfileState.disable_totp.fn(state, {"code": [_code(secret, +1)]})
    assert state.errors == {"disable_code": "That code is not valid."}
    assert profile_service.get_profile(user_id=user.id).totp_enabled is True
    assert accounts.sign_in(email=user.email, password=PASSWORD, totp_code=_code(secret, +1))


# ---------------------------------------------------------------- 3. a TOTP code is good once


def test_a_totp_code_signs_in_only_once():
    user = make_user()
    secret, _ = _with_totp(user)
    code = _code(secret, +1)
    assert accounts.sign_in(email=user.email, password=PASSWORD, totp_code=code)
    with pytest.raises(AuthenticationError, match="code is not valid"):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=code)


def test_a_code_older_than_the_last_accepted_one_is_refused():
    user = make_user()
    secret, _ = _with_totp(user)
    assert accounts.sign_in(email=user.email, password=PASSWORD, totp_code=_code(secret, +1))
    with pytest.raises(AuthenticationError):  # the current step's code is still in its window
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=_code(secret, 0))


def test_the_code_that_turned_2fa_on_cannot_sign_in():
    user = make_user()
    secret, _ = profile_service.start_totp_setup(user_id=user.id)
    code = _code(secret)
    profile_service.confirm_totp_setup(user_id=user.id, code=code)
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=code)


def test_a_code_used_to_sign_in_cannot_then_turn_2fa_off():
    user = make_user()
    secret, _ = _with_totp(user)
    code = _code(secret, +1)
    accounts.sign_in(email=user.email, password=PASSWORD, totp_code=code)
    with pytest.raises(ValidationError):
        profile_service.disable_totp(user_id=user.id, code=code)
    assert profile_service.get_profile(user_id=user.id).totp_enabled is True


def test_turning_2fa_off_and_on_again_starts_a_fresh_replay_record():
    user = make_user()
    secret, _ = _with_totp(user)
    profile_service.disable_totp(user_id=user.id, code=_code(secret, +1))
    with session_scope() as session:
        assert session.get(User, user.id).totp_last_step is None  # type: ignore[union-attr]
    new_secret, _ = profile_service.start_totp_setup(user_id=user.id)
    profile_service.confirm_totp_setup(user_id=user.id, code=_code(new_secret))
    assert profile_service.get_profile(user_id=user.id).totp_enabled is True


def test_verify_code_tells_which_time_step_matched():
    secret = totp.new_secret()
    now = time.time()
    step = int(now // 30)
    for offset in (-1, 0, 1):
        assert (
            totp.verify_code(secret, pyotp.TOTP(secret).at(now + 30 * offset), for_time=now) == step + offset
        )
    assert totp.verify_code(secret, pyotp.TOTP(secret).at(now + 60), for_time=now) is None


@contextmanager
def _pause_after(matches: Callable[[str], bool], racers: set[int]) -> Iterator[None]:
    """Each racing thread, after its first statement that ``matches``, waits (up to 1 s)
    for the other: both have read the same row before either writes."""
    barrier = threading.Barrier(2)
    paused: set[int] = set()

    def after_execute(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        me = threading.get_ident()
        if me in racers and me not in paused and matches(statement.lower()):
            paused.add(me)
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=1)

    engine = get_engine()
    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)


def _race_sign_ins(user: User, code: str, matches: Callable[[str], bool]) -> list[str]:
    """Two sign-ins with the same password and code at once; each gives "ok" or its error."""
    racers: set[int] = set()
    results = ["", ""]

    def run(index: int) -> None:
        racers.add(threading.get_ident())
        try:
            accounts.sign_in(email=user.email, password=PASSWORD, totp_code=code)
            results[index] = "ok"
        except AuthenticationError as exc:
            results[index] = exc.message

    with _pause_after(matches, racers):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return sorted(results)


def _reads_the_user(statement: str) -> bool:
    return "from users" in statement and "users.email" in statement


def test_two_sign_ins_racing_with_the_same_totp_code_let_only_one_in():
    user = make_user()
    secret, _ = _with_totp(user)
    results = _race_sign_ins(user, _code(secret, +1), _reads_the_user)
    assert results[1] == "ok"
    assert "code is not valid" in results[0]


# ---------------------------------------------------------------- 4. a recovery code is good once


def test_two_sign_ins_racing_with_the_same_recovery_code_let_only_one_in():
    user = make_user()
    _, codes = _with_totp(user)
    results = _race_sign_ins(user, codes[0], lambda statement: "from recovery_codes" in statement)
    assert results[1] == "ok"
    assert "code is not valid" in results[0]
    assert profile_service.get_profile(user_id=user.id).recovery_codes_left == 9


# ---------------------------------------------------------------- 8. audit events


def test_turning_2fa_on_and_off_is_audited_in_each_of_the_users_workspaces(team):
    user = make_user()
    add_member(team.workspace_id, Role.MEMBER, user=user)
    secret, _ = profile_service.start_totp_setup(user_id=user.id)
    profile_service.confirm_totp_setup(user_id=user.id, code=_code(secret), ip="192.0.2.4")
    profile_service.disable_totp(user_id=user.id, code=_code(secret, +1), ip="192.0.2.4")

    for workspace_id in (_personal_workspace(user), team.workspace_id):
        events = _account_events(workspace_id)
        assert [e.action for e in events] == ["user.2fa_enabled", "user.2fa_disabled"]
        assert {(e.created_by, e.target_type, e.target_id) for e in events} == {(user.id, "user", user.id)}
        assert all(e.meta == {"ip": "192.0.2.4"} for e in events)
    summaries = [e.summary for e in audit.list_audit_events(ctx=team.owner).events[:2]]
    assert summaries == ["Turned off two-factor authentication", "Turned on two-factor authentication"]


def test_regenerating_recovery_codes_is_audited():
    user = make_user()
    secret, _ = _with_totp(user)
    profile_service.regenerate_recovery_codes(user_id=user.id, code=_code(secret, +1))
    assert _actions(_personal_workspace(user))[-1] == "user.recovery_codes_regenerated"


def test_changing_the_password_is_audited_with_the_sessions_it_signed_out():
    user = make_user()
    here, _ = sign_in_as(user), sign_in_as(user)
    profile_service.change_password(
        user_id=user.id,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        current_session_id=here.auth.session_id,
    )
    (event,) = _account_events(_personal_workspace(user))
    assert event.action == "user.password_changed"
    assert event.summary == "Changed the password and signed out 1 other session"
    assert event.data == {"sessions_revoked": 1}


def test_signing_out_one_session_and_all_others_is_audited():
    user = make_user()
    here, laptop, phone, tablet = (sign_in_as(user) for _ in range(4))
    profile_service.revoke_session(user_id=user.id, session_id=laptop.auth.session_id)
    profile_service.revoke_session(
        user_id=user.id, session_id=laptop.auth.session_id
    )  # already out: no event
    profile_service.revoke_other_sessions(user_id=user.id, current_session_id=here.auth.session_id)
    profile_service.revoke_other_sessions(
        user_id=user.id, current_session_id=here.auth.session_id
    )  # none left
    events = _account_events(_personal_workspace(user))
    assert [e.action for e in events] == ["user.session_revoked", "user.sessions_revoked"]
    assert events[0].data == {"session_id": laptop.auth.session_id}
    assert events[1].summary == "Signed out 2 other sessions"


def test_failed_checks_write_no_audit_event():
    user = make_user()
    secret, _ = _with_totp(user)
    workspace_id = _personal_workspace(user)
    before = _actions(workspace_id)
    _fail_password(user)
    with pytest.raises(ValidationError):
        profile_service.disable_totp(user_id=user.id, code=_wrong_code(secret))
    assert _actions(workspace_id) == before


def test_account_events_of_a_member_stay_out_of_workspaces_they_are_not_in(team, other_team):
    user = make_user()
    add_member(team.workspace_id, Role.VIEWER, user=user)
    _with_totp(user)
    assert "user.2fa_enabled" in [e.action for e in audit.list_audit_events(ctx=team.owner).events]
    assert "user.2fa_enabled" not in [e.action for e in audit.list_audit_events(ctx=other_team.owner).events]
    with session_scope() as session:
        assert session.exec(select(WorkspaceMember).where(WorkspaceMember.user_id == user.id)).all()
