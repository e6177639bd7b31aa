"""Email verification, password reset, the operator's reset link, and how OAuth sign-in
treats unverified accounts and two-factor users (issue 8, item 4).

Mail goes to the real local SMTP server (``inbox``); links are taken from the emails.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlmodel import select

from galaxyco_ui import cli
from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import AuthenticationError, NotFoundError, RateLimitedError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, OAuthAccount, User, UserSession
from galaxyco_ui.services import accounts, email_links, invitations, profile
from galaxyco_ui.services.email_links import VerifyOutcome
from galaxyco_ui.states.auth import _after_sign_up
from tests.factories import BROWSER_BINDING, PASSWORD, make_user, set_columns, sign_in_as
from tests.smtp_server import Inbox

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "a brand new passphrase 42"


# ---------------------------------------------------------------- helpers


def wait_for_mail(inbox: Inbox, count: int = 1, timeout: float = 5.0) -> None:
    """Mail sent from the background thread arrives a moment later."""
    deadline = time.monotonic() + timeout
    while len(inbox.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(inbox.messages) >= count, f"expected {count} emails, got {len(inbox.messages)}"


def link_in(inbox: Inbox, path: str, index: int = -1) -> str:
    _, message = inbox.messages[index]
    text = message.get_body(("plain",)).get_content()
    match = re.search(rf"http://localhost:3000{path}\?token=\S+", text)
    assert match, text
    return match.group(0)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def user_row(user_id: str) -> User:
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def verified_user(**kwargs: object) -> User:
    user = make_user(**kwargs)  # type: ignore[arg-type]
    set_columns(User, user.id, email_verified=True)
    return user


def expire_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """Links made from now on are already past their expiry."""
    monkeypatch.setenv("EMAIL_VERIFY_TTL_HOURS", "-1")
    monkeypatch.setenv("PASSWORD_RESET_TTL_MINUTES", "-1")
    reset_settings()


def live_sessions(user_id: str) -> list[UserSession]:
    with session_scope() as session:
        return list(
            session.exec(
                select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at == None)  # noqa: E711
            ).all()
        )


def audit_actions(user_id: str) -> list[str]:
    with session_scope() as session:
        return [
            e.action for e in session.exec(select(AuditEvent).where(AuditEvent.target_id == user_id)).all()
        ]


# ---------------------------------------------------------------- signed tokens


def test_a_signed_token_is_refused_for_another_purpose_when_altered_or_expired() -> None:
    token = crypto.sign({"u": "abc"}, purpose="email-verify", ttl_seconds=60)

    assert crypto.unsign(token, purpose="email-verify")["u"] == "abc"
    with pytest.raises(crypto.BadSignatureError):
        crypto.unsign(token, purpose="password-reset")
    body, mac = token.split(".")
    forged_body = crypto._b64(b'{"u":"admin","exp":9999999999}')
    for forged in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}AA", body, "", "a.b.c", "%%%.%%%"):
        with pytest.raises(crypto.BadSignatureError):
            crypto.unsign(forged, purpose="email-verify")
    with pytest.raises(crypto.ExpiredSignatureError):
        crypto.unsign(
            crypto.sign({"u": "abc"}, purpose="email-verify", ttl_seconds=-1), purpose="email-verify"
        )


# ---------------------------------------------------------------- email verification


def test_a_password_sign_up_is_unverified_and_gets_a_link_that_verifies_it_once(inbox: Inbox) -> None:
    user = make_user(email="ada@example.com", name="Ada Lovelace")
    assert user_row(user.id).email_verified is False

    assert email_links.send_verification_later(email="ada@example.com") is True
    wait_for_mail(inbox)
    [(recipients, message)] = inbox.messages
    assert recipients == ["ada@example.com"]
    assert message["Subject"] == "Confirm your email address for GalaxyCo"
    link = link_in(inbox, "/verify-email")

    first = email_links.verify_email(token=token_of(link))
    assert (first.outcome, first.email) == (VerifyOutcome.VERIFIED, "ada@example.com")
    assert user_row(user.id).email_verified is True
    again = email_links.verify_email(token=token_of(link))
    assert again.outcome is VerifyOutcome.ALREADY_VERIFIED
    assert email_links.send_verification_later(email="ada@example.com") is False  # nothing left to verify


def test_an_expired_altered_or_stale_verification_link_is_refused(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(email="ada@example.com")
    good = token_of(email_links.verification_link(user))
    # A link for the address the account had before is no link for its new one.
    set_columns(User, user.id, email="ada@new.example")
    with pytest.raises(ValidationError) as stale:
        email_links.verify_email(token=good)
    assert stale.value.message == email_links.VERIFY_BAD_LINK
    set_columns(User, user.id, email="ada@example.com")
    with pytest.raises(ValidationError):
        email_links.verify_email(token=good[:-3] + "abc")
    with pytest.raises(ValidationError):
        email_links.verify_email(token="x" * 5000)

    expire_links(monkeypatch)
    expired = token_of(email_links.verification_link(user))
    with pytest.raises(ValidationError) as late:
        email_links.verify_email(token=expired)
    assert late.value.message == email_links.VERIFY_EXPIRED
    assert user_row(user.id).email_verified is False


def test_without_smtp_a_sign_up_sends_nothing_and_resending_explains_why() -> None:
    user = make_user(email="ada@example.com")

    assert email_links.send_verification_later(email="ada@example.com") is False
    with pytest.raises(ValidationError) as no_mail:
        email_links.resend_verification(user_id=user.id)
    assert no_mail.value.message == email_links.NO_MAIL
    status = email_links.email_status(user_id=user.id)
    assert (status.verified, status.can_send) == (False, False)


def test_resending_the_verification_email_is_throttled(inbox: Inbox) -> None:
    user = make_user(email="ada@example.com")

    for _ in range(email_links.RESEND_MAX_PER_HOUR):
        email_links.resend_verification(user_id=user.id)
    with pytest.raises(RateLimitedError, match=r"Too many verification emails\. Try again in \d+ minutes?\."):
        email_links.resend_verification(user_id=user.id)
    assert len(inbox.messages) == email_links.RESEND_MAX_PER_HOUR

    email_links.verify_email(token=token_of(link_in(inbox, "/verify-email")))
    with pytest.raises(ValidationError, match="already verified"):
        email_links.resend_verification(user_id=user.id)


# ---------------------------------------------------------------- invitations verify


def _invite(team, email: str) -> str:  # type: ignore[no-untyped-def]
    result = invitations.invite_member(ctx=team.owner, email=email, role="member")
    return result.invitation.link.rsplit("/", 1)[-1]


def test_accepting_an_invitation_verifies_the_invited_address(team) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="grace@example.com", personal=False)
    token = _invite(team, "grace@example.com")

    invitations.accept_invitation(user_id=user.id, token=token)

    assert user_row(user.id).email_verified is True


def test_declining_an_invitation_also_verifies_the_address(team) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="grace@example.com", personal=False)

    invitations.decline_invitation(user_id=user.id, token=_invite(team, "grace@example.com"))

    assert user_row(user.id).email_verified is True


def test_signing_up_through_an_invite_link_verifies_only_the_invited_address(team) -> None:  # type: ignore[no-untyped-def]
    token = _invite(team, "grace@example.com")
    other = make_user(email="mallory@example.com")
    invited = make_user(email="grace@example.com")

    assert invitations.verify_invited_email(token=token, email="mallory@example.com") is False
    assert invitations.verify_invited_email(token="not-a-token", email="grace@example.com") is False
    assert user_row(other.id).email_verified is False
    assert invitations.verify_invited_email(token=token, email="grace@example.com") is True
    assert user_row(invited.id).email_verified is True


def test_a_wrong_address_cannot_accept_and_stays_unverified(team) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="mallory@example.com", personal=False)
    token = _invite(team, "grace@example.com")

    with pytest.raises(ValidationError):
        invitations.accept_invitation(user_id=user.id, token=token)

    assert user_row(user.id).email_verified is False


# ---------------------------------------------------------------- OAuth and unverified accounts / 2FA


def _oauth(email: str = "ada@example.com", subject: str = "idp-1") -> accounts.OAuthSignIn:
    return accounts.sign_in_with_oauth(
        provider="oidc",
        subject=subject,
        email=email,
        email_verified=True,
        name="Ada",
        ip="192.0.2.7",
        binding=BROWSER_BINDING,
    )


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            len(session.exec(select(User)).all()),
            len(session.exec(select(OAuthAccount)).all()),
            len(session.exec(select(UserSession)).all()),
        )


def test_oauth_refuses_to_link_an_unverified_password_account_and_creates_nothing() -> None:
    make_user(email="ada@example.com")  # maybe pre-registered by someone else
    before = _counts()

    with pytest.raises(AuthenticationError) as refused:
        _oauth()

    assert "has not been verified" in refused.value.message
    assert "Forgot password?" in refused.value.message
    assert _counts() == before


def test_oauth_links_a_verified_account_records_it_and_says_so() -> None:
    user = verified_user(email="ada@example.com")

    result = _oauth()

    assert (result.linked, result.second_factor, result.email) == (True, False, "ada@example.com")
    assert "user.oauth_linked" in audit_actions(user.id)
    again = _oauth()  # the same subject later: a sign-in, not a new link
    assert again.linked is False
    assert audit_actions(user.id).count("user.oauth_linked") == 1


def _turn_on_totp(user_id: str) -> pyotp.TOTP:
    secret, _ = profile.start_totp_setup(user_id=user_id)
    otp = pyotp.TOTP(secret)
    profile.confirm_totp_setup(user_id=user_id, code=otp.at(time.time() - 30))
    return otp


def test_an_oauth_sign_in_of_a_totp_user_is_unusable_until_the_code_is_checked() -> None:
    user = verified_user(email="ada@example.com")
    otp = _turn_on_totp(user.id)

    result = _oauth()
    assert result.second_factor is True
    token = accounts.exchange_ticket(
        ticket=result.ticket, binding=BROWSER_BINDING
    )  # the cookie is set, but...
    assert accounts.resolve_session(token=token) is None  # ...it opens nothing
    assert accounts.pending_second_factor(token=token) == "ada@example.com"

    with pytest.raises(AuthenticationError, match="not valid"):
        accounts.complete_second_factor(token=token, code="000000" if otp.now() != "000000" else "111111")
    assert accounts.resolve_session(token=token) is None

    accounts.complete_second_factor(token=token, code=otp.now())
    auth = accounts.resolve_session(token=token)
    assert auth is not None and auth.user_id == user.id
    assert accounts.pending_second_factor(token=token) is None
    with pytest.raises(AuthenticationError):  # nothing pending any more
        accounts.complete_second_factor(token=token, code=otp.now())


def test_a_pending_oauth_session_expires_and_wrong_codes_lock_it_out() -> None:
    user = verified_user(email="ada@example.com")
    _turn_on_totp(user.id)
    token = accounts.exchange_ticket(ticket=_oauth().ticket, binding=BROWSER_BINDING)

    for _ in range(5):
        with pytest.raises(AuthenticationError):
            accounts.complete_second_factor(token=token, code="12345-abcde", ip="192.0.2.7")
    with pytest.raises(RateLimitedError):
        accounts.complete_second_factor(token=token, code="12345-abcde", ip="192.0.2.7")

    with session_scope() as session:
        [row] = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
        assert row.mfa_pending is True
        assert (
            row.expires_at - row.created_at
        ).total_seconds() <= accounts.MFA_PENDING_TTL.total_seconds() + 1


# ---------------------------------------------------------------- password reset


def test_a_reset_link_sets_a_new_password_once_revokes_sessions_and_verifies(inbox: Inbox) -> None:
    user = make_user(email="ada@example.com", name="Ada Lovelace")
    signed_in = sign_in_as(user)
    assert user_row(user.id).email_verified is False

    email_links.request_password_reset(email="ADA@example.com ", ip="192.0.2.7")
    wait_for_mail(inbox)
    assert inbox.messages[0][1]["Subject"] == "Reset your GalaxyCo password"
    token = token_of(link_in(inbox, "/reset-password"))
    assert email_links.check_reset_link(token=token) == "ada@example.com"

    with pytest.raises(ValidationError) as weak:
        email_links.reset_password(token=token, new_password="short")
    assert weak.value.field_errors == {"password": "Use at least 10 characters."}

    assert (
        email_links.reset_password(token=token, new_password=NEW_PASSWORD, ip="192.0.2.7")
        == "ada@example.com"
    )

    assert accounts.resolve_session(token=signed_in.token) is None
    assert live_sessions(user.id) == []
    assert user_row(user.id).email_verified is True
    assert "user.password_reset" in audit_actions(user.id)
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email="ada@example.com", password=PASSWORD, binding=BROWSER_BINDING)
    assert sign_in_as(user, password=NEW_PASSWORD).auth.user_id == user.id
    # The same link again: refused, and the password stays the new one.
    for use in (
        lambda: email_links.check_reset_link(token=token),
        lambda: email_links.reset_password(token=token, new_password="yet another passphrase"),
    ):
        with pytest.raises(ValidationError) as used:
            use()
        assert used.value.message == email_links.RESET_BAD_LINK
    assert sign_in_as(user, password=NEW_PASSWORD).auth.user_id == user.id


def test_an_expired_reset_link_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(email="ada@example.com")
    expire_links(monkeypatch)

    token = token_of(email_links.password_reset_link(user))

    with pytest.raises(ValidationError) as expired:
        email_links.reset_password(token=token, new_password=NEW_PASSWORD)
    assert expired.value.message == email_links.RESET_EXPIRED
    assert sign_in_as(user).auth.user_id == user.id  # the old password still works


def test_a_reset_link_is_not_a_verification_link_and_vice_versa() -> None:
    user = make_user(email="ada@example.com")

    with pytest.raises(ValidationError):
        email_links.reset_password(
            token=token_of(email_links.verification_link(user)), new_password=NEW_PASSWORD
        )
    with pytest.raises(ValidationError):
        email_links.verify_email(token=token_of(email_links.password_reset_link(user)))


def test_a_reset_request_for_an_unknown_address_answers_the_same_and_sends_nothing(inbox: Inbox) -> None:
    make_user(email="ada@example.com")

    assert email_links.request_password_reset(email="nobody@example.com") is None
    assert email_links.request_password_reset(email="ada@example.com") is None
    wait_for_mail(inbox)
    time.sleep(0.2)
    assert [to for to, _ in inbox.messages] == [["ada@example.com"]]


def test_reset_requests_are_throttled_per_address_and_per_client(inbox: Inbox) -> None:
    make_user(email="ada@example.com")

    for _ in range(email_links.RESET_MAX_PER_EMAIL_PER_HOUR):
        email_links.request_password_reset(email="ada@example.com", ip="192.0.2.1")
    with pytest.raises(RateLimitedError, match="for this address"):
        email_links.request_password_reset(email="ada@example.com", ip="192.0.2.99")
    # An unknown address is throttled exactly alike: the limit tells nothing about accounts.
    for _ in range(email_links.RESET_MAX_PER_EMAIL_PER_HOUR):
        email_links.request_password_reset(email="nobody@example.com", ip="192.0.2.2")
    with pytest.raises(RateLimitedError, match="for this address"):
        email_links.request_password_reset(email="nobody@example.com", ip="192.0.2.98")

    for n in range(email_links.RESET_MAX_PER_IP_PER_HOUR):
        email_links.request_password_reset(email=f"someone{n}@example.com", ip="192.0.2.3")
    with pytest.raises(RateLimitedError, match="Too many reset requests"):
        email_links.request_password_reset(email="ada+x@example.com", ip="192.0.2.3")
    wait_for_mail(inbox, email_links.RESET_MAX_PER_EMAIL_PER_HOUR)


def test_a_reset_also_works_for_an_account_that_signs_in_only_through_oauth() -> None:
    user = make_user(email="ada@example.com", password=None)
    set_columns(User, user.id, email_verified=True)

    email_links.reset_password(
        token=token_of(email_links.password_reset_link(user)), new_password=NEW_PASSWORD
    )

    assert sign_in_as(user, password=NEW_PASSWORD).auth.user_id == user.id


# ---------------------------------------------------------------- the operator's command


def test_the_cli_prints_a_reset_link_that_works(capsys: pytest.CaptureFixture[str]) -> None:
    user = make_user(email="ada@example.com")

    assert cli.main(["reset-link", "Ada@Example.com"]) == 0

    out, err = capsys.readouterr()
    link = out.strip()
    assert link.startswith("http://localhost:3000/reset-password?token=")
    assert "Valid for 30 minutes" in err
    assert "user.password_reset_link_created" in audit_actions(user.id)
    email_links.reset_password(token=token_of(link), new_password=NEW_PASSWORD)
    assert sign_in_as(user, password=NEW_PASSWORD).auth.user_id == user.id


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["reset-link", "nobody@example.com"], 1, "no account has the email address 'nobody@example.com'"),
        (["reset-link", "not-an-email"], 2, "Enter a valid email address"),
    ],
)
def test_the_cli_fails_clearly_for_an_unknown_or_invalid_email(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    make_user(email="ada@example.com")

    assert cli.main(argv) == code

    out, err = capsys.readouterr()
    assert out == ""
    assert message in err


def test_the_cli_runs_as_a_module_with_exit_codes() -> None:
    make_user(email="ada@example.com")

    ok = subprocess.run(
        [sys.executable, "-m", "galaxyco_ui.cli", "reset-link", "ada@example.com"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    unknown = subprocess.run(
        [sys.executable, "-m", "galaxyco_ui.cli", "reset-link", "bob@example.com"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    usage = subprocess.run(
        [sys.executable, "-m", "galaxyco_ui.cli"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("http://localhost:3000/reset-password?token=")
    assert unknown.returncode == 1 and "no account has the email address" in unknown.stderr
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_an_operator_link_for_an_unknown_email_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        email_links.operator_reset_link(email="nobody@example.com")


# Roles are not involved in any of this: an account-level event reaches every workspace.
def test_account_events_reach_every_workspace_of_the_user(team) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="ada@example.com")
    from tests.factories import add_member

    add_member(team.workspace_id, Role.MEMBER, user=user)

    email_links.reset_password(
        token=token_of(email_links.password_reset_link(user)), new_password=NEW_PASSWORD
    )

    with session_scope() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.password_reset")).all()
    assert len(events) == 2
    assert team.workspace_id in {e.workspace_id for e in events}


# ---------------------------------------------------------------- after a sign-up (states/auth.py)


def test_a_sign_up_through_its_invite_link_is_verified_without_an_email(team, inbox: Inbox) -> None:  # type: ignore[no-untyped-def]
    token = _invite(team, "grace@example.com")
    inbox.messages.clear()  # the invitation itself
    invited = make_user(email="grace@example.com")

    _after_sign_up("Grace@Example.com", f"/invite/{token}")

    assert user_row(invited.id).email_verified is True
    time.sleep(0.2)
    assert inbox.messages == []


def test_any_other_sign_up_is_sent_a_verification_link(team, inbox: Inbox) -> None:  # type: ignore[no-untyped-def]
    token = _invite(team, "grace@example.com")
    inbox.messages.clear()  # the invitation itself
    stranger = make_user(email="mallory@example.com")

    _after_sign_up("mallory@example.com", f"/invite/{token}")  # someone else's invite link

    assert user_row(stranger.id).email_verified is False
    wait_for_mail(inbox)
    assert [to for to, _ in inbox.messages] == [["mallory@example.com"]]
