"""Links sent by email that prove control of an address: verification and password reset.

Both are stateless tokens signed with a key derived from ``SECRET_KEY`` (one key per
purpose, ``infra.crypto.sign``), carried in the link's query string:

- **Verify** (``/verify-email?token=…``, valid ``EMAIL_VERIFY_TTL_HOURS``): names the
  user and the address it was sent to. Using it marks that address verified; using it
  again changes nothing ("already verified"), and it never verifies another address.
- **Reset** (``/reset-password?token=…``, valid ``PASSWORD_RESET_TTL_MINUTES``): names the
  user and a keyed fingerprint of their current password hash. Setting a new password
  changes the hash, so the link works once (a compare-and-set on the hash makes two
  concurrent uses of one link succeed at most once). A reset also revokes every session
  of the user and marks the address verified (the link was delivered to it).

Why verification matters: an OAuth sign-in links to an existing account only when its
address is verified (``accounts.sign_in_with_oauth``), so nobody can pre-create an
account for someone else's address and wait for its owner to sign in with Google.

A reset request answers the same whether or not the account exists (no account oracle)
and hands the email to a background thread, so its timing does not tell either. Requests
are throttled per address asked for and per client address. Without SMTP, an operator
prints a reset link with ``python -m galaxyco_ui.cli reset-link EMAIL``.

Functions here block (database, argon2, SMTP): async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from urllib.parse import quote

from pydantic import BaseModel
from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from galaxyco_ui.auth import passwords
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, RateLimitedError, ValidationError
from galaxyco_ui.infra import crypto, mail
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_sliding_window
from galaxyco_ui.models import User, UserSession, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import check_text, normalize_email

VERIFY_PURPOSE = "email-verify"
RESET_PURPOSE = "password-reset"
MAX_TOKEN_CHARS = 1000
HOUR = 3600
RESEND_MAX_PER_HOUR = 3  # per user
RESET_MAX_PER_EMAIL_PER_HOUR = 5  # per address asked for, existing or not
RESET_MAX_PER_IP_PER_HOUR = 20  # per client address

VERIFY_BAD_LINK = "This verification link is not valid. Check that you copied all of it."
VERIFY_EXPIRED = "This verification link has expired. Send a new one from your profile."
RESET_BAD_LINK = "This reset link is not valid, or it was already used. Ask for a new one."
RESET_EXPIRED = "This reset link has expired. Ask for a new one."
NO_MAIL = "This server does not send email. Ask the person who runs GalaxyCo for a link."


class VerifyOutcome(StrEnum):
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"


class VerifyResult(BaseModel):
    outcome: VerifyOutcome
    email: str


class EmailStatus(BaseModel):
    """What the profile page shows about the user's address."""

    email: str
    verified: bool
    can_send: bool  # SMTP is configured, so a verification email can go out


def mail_configured() -> bool:
    return bool(get_settings().smtp_host)


# ---------------------------------------------------------------- verification


def verification_link(user: User) -> str:
    """A signed link that verifies ``user``'s current address."""
    hours = get_settings().email_verify_ttl_hours
    token = crypto.sign({"u": user.id, "e": user.email}, purpose=VERIFY_PURPOSE, ttl_seconds=hours * HOUR)
    return _link("/verify-email", token)


def send_verification_later(*, email: str) -> bool:
    """After a sign-up: mail the verification link in the background, if SMTP is set.

    Returns:
        True when an email was handed to the mail thread.
    """
    if not mail_configured():
        return False
    with session_scope() as session:
        user = _user_by_email(session, normalize_email(email))
        if user is None or user.email_verified:
            return False
        subject, text, html = mail.verification_email(
            user.name, verification_link(user), get_settings().email_verify_ttl_hours
        )
        to = user.email
    mail.send_later(to, subject, text, html)
    return True


def resend_verification(*, user_id: str) -> None:
    """Send the verification link again (throttled), and wait for the mail server.

    Raises:
        ValidationError: already verified, or this server sends no email.
        RateLimitedError: more than ``RESEND_MAX_PER_HOUR`` in an hour.
        MailDeliveryError: the mail server failed.
    """
    if not mail_configured():
        raise ValidationError({"email": NO_MAIL})
    with session_scope() as session:
        user = _live_user(session, user_id)
        if user.email_verified:
            raise ValidationError({"email": "Your email address is already verified."})
        subject, text, html = mail.verification_email(
            user.name, verification_link(user), get_settings().email_verify_ttl_hours
        )
        to = user.email
    _throttle(f"verify-resend:{user_id}", RESEND_MAX_PER_HOUR, "Too many verification emails")
    mail.send_email(to, subject, text, html)


def email_status(*, user_id: str) -> EmailStatus:
    with session_scope() as session:
        user = _live_user(session, user_id)
        return EmailStatus(email=user.email, verified=user.email_verified, can_send=mail_configured())


def verify_email(*, token: str) -> VerifyResult:
    """Use a verification link.

    Returns:
        Whether the address is now verified, or already was.

    Raises:
        ValidationError: the link is malformed, altered, expired, for an account that is
            gone, or for an address the account no longer has.
    """
    payload = _unsign(token, VERIFY_PURPOSE, bad=VERIFY_BAD_LINK, expired=VERIFY_EXPIRED)
    with session_scope() as session:
        user = session.get(User, str(payload.get("u", "")))
        if user is None or user.deleted_at is not None or user.email != payload.get("e"):
            raise ValidationError({"token": VERIFY_BAD_LINK})
        if user.email_verified:
            return VerifyResult(outcome=VerifyOutcome.ALREADY_VERIFIED, email=user.email)
        user.email_verified = True
        user.updated_at = utcnow()
        return VerifyResult(outcome=VerifyOutcome.VERIFIED, email=user.email)


# ---------------------------------------------------------------- password reset


def password_reset_link(user: User) -> str:
    """A signed link, good once and for ``PASSWORD_RESET_TTL_MINUTES``, to reset ``user``'s password."""
    minutes = get_settings().password_reset_ttl_minutes
    token = crypto.sign(
        {"u": user.id, "p": _password_fingerprint(user.password_hash)},
        purpose=RESET_PURPOSE,
        ttl_seconds=minutes * 60,
    )
    return _link("/reset-password", token)


def request_password_reset(*, email: str, ip: str = "") -> None:
    """ "Forgot password?": email a reset link if an account has this address.

    Answers the same either way (the caller says "if an account exists, we sent a
    link"); the email goes out from a background thread.

    Raises:
        ValidationError: not an email address.
        RateLimitedError: too many requests for this address or from this client.
    """
    email = normalize_email(email)
    _throttle(f"reset:ip:{ip or 'unknown'}", RESET_MAX_PER_IP_PER_HOUR, "Too many reset requests")
    _throttle(
        f"reset:email:{email}", RESET_MAX_PER_EMAIL_PER_HOUR, "Too many reset requests for this address"
    )
    with session_scope() as session:
        user = _user_by_email(session, email)
        if user is None:
            return
        minutes = get_settings().password_reset_ttl_minutes
        subject, text, html = mail.password_reset_email(user.name, password_reset_link(user), minutes)
    mail.send_later(email, subject, text, html)


def check_reset_link(*, token: str) -> str:
    """The address a reset link is for, so the page can say so before the form.

    Raises:
        ValidationError: malformed, altered, expired or already used.
    """
    with session_scope() as session:
        return _user_for_reset(session, token).email


def reset_password(*, token: str, new_password: str, ip: str = "") -> str:
    """Set a new password through a reset link, once.

    Also marks the address verified, revokes every session of the user, and records
    ``user.password_reset`` in the audit log of each of their workspaces.

    Returns:
        The account's email address (to prefill the sign-in form).

    Raises:
        ValidationError: the password is unacceptable (field ``password``), or the link
            is malformed, altered, expired or already used (field ``token``).
    """
    if problem := passwords.password_problem(check_text(new_password, field="password")):
        raise ValidationError({"password": problem})
    with session_scope() as session:  # refuse a bad link before spending argon2 on it
        _user_for_reset(session, token)
    new_hash = passwords.hash_password(new_password)
    with session_scope() as session:
        user = _user_for_reset(session, token)
        # Compare-and-set on the old hash: of two concurrent uses of one link, one wins.
        changed = session.exec(
            update(User)
            .where(col(User.id) == user.id, _same_hash(user.password_hash))
            .values(password_hash=new_hash, email_verified=True, updated_at=utcnow())
        ).rowcount
        if changed != 1:
            raise ValidationError({"token": RESET_BAD_LINK})
        now = utcnow()
        session.exec(
            update(UserSession)
            .where(col(UserSession.user_id) == user.id, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        audit.record_for_user(
            session,
            user.id,
            "user.password_reset",
            summary=f"{user.name} reset their password by email",
            ip=ip,
        )
        return user.email


def operator_reset_link(*, email: str) -> str:
    """For ``python -m galaxyco_ui.cli reset-link``: a reset link for ``email``, recorded.

    Raises:
        ValidationError: not an email address.
        NotFoundError: no account has this address.
    """
    email = normalize_email(email)
    with session_scope() as session:
        user = _user_by_email(session, email)
        if user is None:
            raise NotFoundError(f"An account with the email address {email}")
        link = password_reset_link(user)
        audit.record_for_user(
            session,
            user.id,
            "user.password_reset_link_created",
            summary=f"An operator created a password reset link for {user.email}",
        )
        return link


# ---------------------------------------------------------------- internals


def _link(path: str, token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email, col(User.deleted_at).is_(None))).first()


def _live_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFoundError("Your account")
    return user


def _password_fingerprint(password_hash: str | None) -> str:
    """A keyed digest of the password hash: changes whenever the password does."""
    key = crypto.signing_key(RESET_PURPOSE + ":fingerprint")
    return hmac.new(key, (password_hash or "").encode(), hashlib.sha256).hexdigest()[:32]


def _same_hash(password_hash: str | None) -> ColumnElement[bool]:
    column = col(User.password_hash)
    return column.is_(None) if password_hash is None else column == password_hash


def _user_for_reset(session: Session, token: str) -> User:
    payload = _unsign(token, RESET_PURPOSE, bad=RESET_BAD_LINK, expired=RESET_EXPIRED)
    user = session.get(User, str(payload.get("u", "")))
    if (
        user is None
        or user.deleted_at is not None
        or not hmac.compare_digest(str(payload.get("p", "")), _password_fingerprint(user.password_hash))
    ):
        raise ValidationError({"token": RESET_BAD_LINK})
    return user


def _unsign(token: str, purpose: str, *, bad: str, expired: str) -> dict[str, object]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise ValidationError({"token": bad})
    try:
        return crypto.unsign(token, purpose=purpose)
    except crypto.ExpiredSignatureError:
        raise ValidationError({"token": expired}) from None
    except crypto.BadSignatureError:
        raise ValidationError({"token": bad}) from None


def _throttle(key: str, limit: int, what: str) -> None:
    wait = get_sliding_window().hit(key, limit=limit, window_seconds=HOUR)
    if wait:
        minutes = max(1, round(wait / 60))
        raise RateLimitedError(
            f"{what}. Try again in {minutes} minute{'s' if minutes > 1 else ''}.", retry_after=int(wait) + 1
        )
