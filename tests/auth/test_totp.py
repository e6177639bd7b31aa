"""Two-factor authentication: TOTP setup, sign-in with a code, recovery codes, disabling."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlmodel import select

from galaxyco_ui.auth import totp
from galaxyco_ui.errors import AuthenticationError, TwoFactorRequiredError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import RecoveryCode, User
from galaxyco_ui.services import accounts
from galaxyco_ui.services import profile as profile_service
from tests.factories import BROWSER_BINDING, PASSWORD, make_user


def _with_totp(user: User) -> tuple[str, list[str]]:
    secret, _ = profile_service.start_totp_setup(user_id=user.id)
    codes = profile_service.confirm_totp_setup(user_id=user.id, code=pyotp.TOTP(secret).now())
    return secret, codes


def _next_code(secret: str) -> str:
    """The code of the next time step: still accepted (clock drift), and not yet used.

    The setup used up the current step's code; a code is good once.
    """
    return pyotp.TOTP(secret).at(time.time() + 30)


def _wrong_code(secret: str) -> str:
    """A well-formed code far from the current one (and from its neighbours)."""
    now = int(pyotp.TOTP(secret).now())
    return f"{(now + 500_000) % 1_000_000:06d}"


def test_setup_gives_a_secret_and_an_otpauth_uri_for_the_qr_code():
    user = make_user(email="totp@example.com")
    secret, uri = profile_service.start_totp_setup(user_id=user.id)
    assert uri.startswith("otpauth://totp/GalaxyCo:totp%40example.com?")
    assert f"secret={secret}" in uri and "issuer=GalaxyCo" in uri
    assert profile_service.get_profile(user_id=user.id).totp_enabled is False  # not on until confirmed


def test_confirming_with_a_current_code_turns_2fa_on_and_gives_ten_recovery_codes():
    user = make_user()
    _, codes = _with_totp(user)
    assert len(codes) == len(set(codes)) == totp.RECOVERY_CODE_COUNT
    profile = profile_service.get_profile(user_id=user.id)
    assert (profile.totp_enabled, profile.recovery_codes_left) == (True, 10)


def test_confirming_with_a_wrong_code_leaves_2fa_off():
    user = make_user()
    secret, _ = profile_service.start_totp_setup(user_id=user.id)
    with pytest.raises(ValidationError) as exc:
        profile_service.confirm_totp_setup(user_id=user.id, code=_wrong_code(secret))
    assert "code" in exc.value.field_errors
    assert profile_service.get_profile(user_id=user.id).totp_enabled is False


def test_confirming_before_starting_setup_is_refused():
    user = make_user()
    with pytest.raises(ValidationError, match="Start the setup first"):
        profile_service.confirm_totp_setup(user_id=user.id, code="123456")


def test_starting_setup_again_while_2fa_is_on_is_refused():
    user = make_user()
    _with_totp(user)
    with pytest.raises(ValidationError, match="already on"):
        profile_service.start_totp_setup(user_id=user.id)


def test_the_database_never_holds_the_secret_in_clear():
    user = make_user()
    secret, codes = _with_totp(user)
    with session_scope() as session:
        row = session.get(User, user.id)
        assert row is not None and row.totp_secret_encrypted
        assert secret not in row.totp_secret_encrypted
        stored = [rc.code_hash for rc in session.exec(select(RecoveryCode)).all()]
    assert not set(codes) & set(stored)


def test_sign_in_with_2fa_asks_for_a_code_after_the_right_password():
    user = make_user()
    _with_totp(user)
    with pytest.raises(TwoFactorRequiredError, match="6-digit code"):
        accounts.sign_in(email=user.email, password=PASSWORD)


def test_sign_in_with_2fa_and_a_wrong_password_does_not_reveal_that_2fa_is_on():
    user = make_user()
    secret, _ = _with_totp(user)
    with pytest.raises(AuthenticationError) as exc:
        accounts.sign_in(email=user.email, password="wrong password!")
    assert not isinstance(exc.value, TwoFactorRequiredError)


def test_sign_in_with_the_current_code_returns_a_ticket():
    user = make_user()
    secret, _ = _with_totp(user)
    ticket = accounts.sign_in(
        email=user.email, password=PASSWORD, totp_code=_next_code(secret), binding=BROWSER_BINDING
    )
    auth = accounts.resolve_session(token=accounts.exchange_ticket(ticket=ticket, binding=BROWSER_BINDING))
    assert auth is not None and auth.user_id == user.id


def test_sign_in_with_a_wrong_code_is_refused():
    user = make_user()
    secret, _ = _with_totp(user)
    with pytest.raises(AuthenticationError, match="code is not valid"):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=_wrong_code(secret))


def test_a_recovery_code_signs_in_once():
    user = make_user()
    _, codes = _with_totp(user)
    ticket = accounts.sign_in(
        email=user.email, password=PASSWORD, totp_code=f"  {codes[3].upper()} ", binding=BROWSER_BINDING
    )
    assert accounts.exchange_ticket(ticket=ticket, binding=BROWSER_BINDING)
    assert profile_service.get_profile(user_id=user.id).recovery_codes_left == 9
    with pytest.raises(AuthenticationError, match="code is not valid"):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=codes[3])
    assert accounts.sign_in(email=user.email, password=PASSWORD, totp_code=codes[4])


def test_regenerating_recovery_codes_replaces_the_old_ones():
    user = make_user()
    secret, old = _with_totp(user)
    new = profile_service.regenerate_recovery_codes(user_id=user.id, code=_next_code(secret))
    assert not set(old) & set(new)
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password=PASSWORD, totp_code=old[0])
    assert accounts.sign_in(email=user.email, password=PASSWORD, totp_code=new[0])


def test_disabling_2fa_needs_a_valid_code_then_sign_in_needs_only_the_password():
    user = make_user()
    secret, _ = _with_totp(user)
    with pytest.raises(ValidationError):
        profile_service.disable_totp(user_id=user.id, code=_wrong_code(secret))
    assert profile_service.get_profile(user_id=user.id).totp_enabled is True
    profile_service.disable_totp(user_id=user.id, code=_next_code(secret))
    profile = profile_service.get_profile(user_id=user.id)
    assert (profile.totp_enabled, profile.recovery_codes_left) == (False, 0)
    with session_scope() as session:
        row = session.get(User, user.id)
        assert row is not None and row.totp_secret_encrypted is None
    assert accounts.sign_in(email=user.email, password=PASSWORD)


def test_a_recovery_code_can_disable_2fa():
    user = make_user()
    _, codes = _with_totp(user)
    profile_service.disable_totp(user_id=user.id, code=codes[0])
    assert profile_service.get_profile(user_id=user.id).totp_enabled is False


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_never_verify(code):
    assert totp.verify_code(totp.new_secret(), code) is None


def test_a_code_with_spaces_verifies():
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).now()
    assert totp.verify_code(secret, f" {code[:3]} {code[3:]} ") is not None
