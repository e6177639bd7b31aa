"""A signed-in user's own account: profile, password, two-factor and sessions.

Every check of the current password or of a second-factor code here is throttled per
user (the sign-in limiter, key prefix ``reauth:user:``): someone holding a stolen
session cannot guess their way to the password or to turning 2FA off. While locked out,
nothing is checked. Changes to the password, two-factor and sessions are audited in
each of the user's workspaces (``audit.record_for_user``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth import passwords, totp
from galaxyco_ui.auth.tokens import hash_token
from galaxyco_ui.errors import NotFoundError, RateLimitedError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_login_limiter
from galaxyco_ui.models import RecoveryCode, User, UserSession, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.accounts import TOTP_PURPOSE, check_second_factor
from galaxyco_ui.services.validation import clean_name, lookup_id


class SessionView(BaseModel):
    id: str
    ip: str
    user_agent: str
    device: str
    method: str
    created_at: datetime
    last_seen_at: datetime | None
    current: bool


class ProfileView(BaseModel):
    id: str
    email: str
    name: str
    has_password: bool
    totp_enabled: bool
    recovery_codes_left: int


# ---------------------------------------------------------------- sessions


def list_sessions(*, user_id: str, current_session_id: str) -> list[SessionView]:
    """The user's live sessions, most recently used first."""
    now = utcnow()
    with session_scope() as session:
        rows = session.exec(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                col(UserSession.revoked_at).is_(None),
                col(UserSession.token_hash).is_not(None),
                col(UserSession.expires_at) > now,
            )
            .order_by(col(UserSession.last_seen_at).desc())
        ).all()
        return [
            SessionView(
                id=r.id,
                ip=r.ip,
                user_agent=r.user_agent,
                device=describe_user_agent(r.user_agent),
                method=r.method,
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                current=r.id == current_session_id,
            )
            for r in rows
        ]


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Chrome (headless)"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str) -> str:
    """A short, human label for a User-Agent header, e.g. "Firefox on Windows"."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def revoke_session(*, user_id: str, session_id: str, ip: str = "") -> None:
    """Sign out one of the user's sessions. Raises ``NotFoundError`` for anyone else's."""
    with session_scope() as session:
        key = lookup_id(session_id)
        row = session.get(UserSession, key) if key else None
        if row is None or row.user_id != user_id:
            raise NotFoundError("That session")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record_for_user(
                session,
                user_id,
                "user.session_revoked",
                summary=f"Signed out a session ({describe_user_agent(row.user_agent)}"
                f"{', ' + row.ip if row.ip else ''})",
                ip=ip,
                data={"session_id": row.id},
            )


def revoke_other_sessions(*, user_id: str, current_session_id: str, ip: str = "") -> int:
    """Sign out every session of the user but the current one; returns how many."""
    with session_scope() as session:
        count = _revoke_sessions(session, user_id, keep=current_session_id)
        if count:
            audit.record_for_user(
                session,
                user_id,
                "user.sessions_revoked",
                summary=f"Signed out {count} other session{'s' if count != 1 else ''}",
                ip=ip,
                data={"count": count},
            )
        return count


def _revoke_sessions(session: Session, user_id: str, *, keep: str | None) -> int:
    """Revoke the user's live sessions and pending sign-in tickets, except ``keep``.

    Returns:
        How many live (signed-in) sessions were revoked; pending tickets are not counted.
    """
    rows = session.exec(
        select(UserSession).where(
            UserSession.user_id == user_id,
            col(UserSession.revoked_at).is_(None),
            col(UserSession.expires_at) > utcnow(),
        )
    ).all()
    now, count = utcnow(), 0
    for row in rows:
        if row.id != keep:
            row.revoked_at = now
            count += row.token_hash is not None
    return count


# ---------------------------------------------------------------- profile and 2FA


def get_profile(*, user_id: str) -> ProfileView:
    with session_scope() as session:
        user = _live_user(session, user_id)
        return _profile(session, user)


def update_profile(*, user_id: str, name: str) -> ProfileView:
    name = clean_name(name, field="name", label="Name", max_length=120)
    with session_scope() as session:
        user = _live_user(session, user_id)
        user.name = name
        user.updated_at = utcnow()
        return _profile(session, user)


def change_password(
    *,
    user_id: str,
    current_password: str,
    new_password: str,
    current_session_id: str | None = None,
    ip: str = "",
) -> int:
    """Set a new password after checking the current one (if the account has one), and
    sign out every other session: whoever knew the old password is out too.

    Args:
        current_session_id: the session making the change, which stays signed in;
            ``None`` signs out every session.

    Returns:
        How many other sessions were signed out.

    Raises:
        ValidationError: a weak new password, or a wrong current one.
        RateLimitedError: too many wrong passwords or codes recently (nothing checked).
    """
    if problem := passwords.password_problem(new_password):
        raise ValidationError({"new_password": problem})
    key = _reauth_key(user_id)
    with session_scope() as session:
        user = _live_user(session, user_id)
        if user.password_hash and not passwords.verify_password(user.password_hash, current_password):
            get_login_limiter().record_failure(key)
            raise ValidationError({"current_password": "Your current password is not correct."})
        had_password = bool(user.password_hash)
        user.password_hash = passwords.hash_password(new_password)
        user.updated_at = utcnow()
        revoked = _revoke_sessions(session, user_id, keep=current_session_id)
        audit.record_for_user(
            session,
            user_id,
            "user.password_changed" if had_password else "user.password_set",
            summary=("Changed the password" if had_password else "Set a password")
            + (f" and signed out {revoked} other session{'s' if revoked != 1 else ''}" if revoked else ""),
            ip=ip,
            data={"sessions_revoked": revoked},
        )
    get_login_limiter().reset(key)
    return revoked


def start_totp_setup(*, user_id: str) -> tuple[str, str]:
    """Create a new (not yet active) TOTP secret.

    Returns:
        ``(secret, otpauth_uri)`` to show as text and as a QR code.
    """
    secret = totp.new_secret()
    with session_scope() as session:
        user = _live_user(session, user_id)
        if user.totp_enabled:
            raise ValidationError({"code": "Two-factor authentication is already on."})
        user.totp_secret_encrypted = crypto.encrypt(secret, purpose=TOTP_PURPOSE)
        user.totp_last_step = None  # a new secret: no code of it has been used yet
        return secret, totp.provisioning_uri(secret, user.email)


def confirm_totp_setup(*, user_id: str, code: str, ip: str = "") -> list[str]:
    """Turn 2FA on once the user proves their app works (that code is then used up).

    Returns:
        Ten recovery codes, shown once.

    Raises:
        ValidationError: setup not started, or a wrong code.
        RateLimitedError: too many wrong passwords or codes recently (nothing checked).
    """
    key = _reauth_key(user_id)
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_secret_encrypted:
            raise ValidationError({"code": "Start the setup first."})
        if user.totp_enabled:
            raise ValidationError({"code": "Two-factor authentication is already on."})
        if not check_second_factor(session, user, code, allow_recovery=False):
            get_login_limiter().record_failure(key)
            raise ValidationError(
                {"code": "That code is not valid. Check your device's clock and try again."}
            )
        user.totp_enabled = True
        codes = _replace_recovery_codes(session, user)
        audit.record_for_user(
            session, user_id, "user.2fa_enabled", summary="Turned on two-factor authentication", ip=ip
        )
    get_login_limiter().reset(key)
    return codes


def regenerate_recovery_codes(*, user_id: str, code: str, ip: str = "") -> list[str]:
    """Replace the recovery codes; needs a current code from the authenticator app.

    Raises:
        ValidationError: 2FA is off, or a wrong code.
        RateLimitedError: too many wrong passwords or codes recently (nothing checked).
    """
    key = _reauth_key(user_id)
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_enabled:
            raise ValidationError({"code": "Two-factor authentication is off."})
        if not check_second_factor(session, user, code, allow_recovery=False):
            get_login_limiter().record_failure(key)
            raise ValidationError({"code": "Enter a current code from your authenticator app."})
        codes = _replace_recovery_codes(session, user)
        audit.record_for_user(
            session,
            user_id,
            "user.recovery_codes_regenerated",
            summary="Created new two-factor recovery codes",
            ip=ip,
        )
    get_login_limiter().reset(key)
    return codes


def disable_totp(*, user_id: str, code: str, ip: str = "") -> None:
    """Turn 2FA off; needs a current code or a recovery code.

    Raises:
        ValidationError: a wrong code.
        RateLimitedError: too many wrong passwords or codes recently (nothing checked).
    """
    key = _reauth_key(user_id)
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_enabled:
            return
        if not check_second_factor(session, user, code):
            get_login_limiter().record_failure(key)
            raise ValidationError({"code": "That code is not valid."})
        user.totp_enabled = False
        user.totp_secret_encrypted = None
        user.totp_last_step = None
        for rc in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
            session.delete(rc)
        audit.record_for_user(
            session, user_id, "user.2fa_disabled", summary="Turned off two-factor authentication", ip=ip
        )
    get_login_limiter().reset(key)


def _reauth_key(user_id: str) -> str:
    """The throttle key of ``user_id``'s password and code checks; raises while locked.

    Raises:
        RateLimitedError: too many recent failures; try again in ``retry_after`` seconds.
    """
    key = f"reauth:user:{user_id}"
    if wait := get_login_limiter().check(key):
        minutes = max(1, round(wait / 60))
        raise RateLimitedError(
            f"Too many wrong passwords or codes. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=wait,
        )
    return key


def _live_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFoundError("That user")
    return user


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    for rc in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
        session.delete(rc)
    codes = totp.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_token(totp.normalize_recovery_code(code))))
    return codes


def _profile(session: Session, user: User) -> ProfileView:
    left = len(
        session.exec(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None)
            )
        ).all()
    )
    return ProfileView(
        id=user.id,
        email=user.email,
        name=user.name,
        has_password=bool(user.password_hash),
        totp_enabled=user.totp_enabled,
        recovery_codes_left=left,
    )
