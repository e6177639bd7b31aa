"""A signed-in user's own account: profile, password, two-factor and sessions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth import passwords, totp
from galaxyco_ui.auth.tokens import hash_token
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import RecoveryCode, User, UserSession, utcnow
from galaxyco_ui.services.accounts import TOTP_PURPOSE, check_second_factor
from galaxyco_ui.services.validation import clean_name


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


def revoke_session(*, user_id: str, session_id: str) -> None:
    """Sign out one of the user's sessions. Raises ``NotFoundError`` for anyone else's."""
    with session_scope() as session:
        row = session.get(UserSession, session_id)
        if row is None or row.user_id != user_id:
            raise NotFoundError("That session")
        row.revoked_at = row.revoked_at or utcnow()


def revoke_other_sessions(*, user_id: str, current_session_id: str) -> int:
    """Sign out every session of the user but the current one; returns how many."""
    with session_scope() as session:
        rows = session.exec(
            select(UserSession).where(
                UserSession.user_id == user_id,
                UserSession.id != current_session_id,
                col(UserSession.revoked_at).is_(None),
                col(UserSession.token_hash).is_not(None),
                col(UserSession.expires_at) > utcnow(),
            )
        ).all()
        for row in rows:
            row.revoked_at = utcnow()
        return len(rows)


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


def change_password(*, user_id: str, current_password: str, new_password: str) -> None:
    """Set a new password after checking the current one (if the account has one)."""
    if problem := passwords.password_problem(new_password):
        raise ValidationError({"new_password": problem})
    with session_scope() as session:
        user = _live_user(session, user_id)
        if user.password_hash and not passwords.verify_password(user.password_hash, current_password):
            raise ValidationError({"current_password": "Your current password is not correct."})
        user.password_hash = passwords.hash_password(new_password)
        user.updated_at = utcnow()


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
        return secret, totp.provisioning_uri(secret, user.email)


def confirm_totp_setup(*, user_id: str, code: str) -> list[str]:
    """Turn 2FA on once the user proves their app works.

    Returns:
        Ten recovery codes, shown once.
    """
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_secret_encrypted:
            raise ValidationError({"code": "Start the setup first."})
        secret = crypto.decrypt(user.totp_secret_encrypted, purpose=TOTP_PURPOSE)
        if not totp.verify_code(secret, code):
            raise ValidationError(
                {"code": "That code is not valid. Check your device's clock and try again."}
            )
        user.totp_enabled = True
        return _replace_recovery_codes(session, user)


def regenerate_recovery_codes(*, user_id: str, code: str) -> list[str]:
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_enabled or not check_second_factor(session, user, code, allow_recovery=False):
            raise ValidationError({"code": "Enter a current code from your authenticator app."})
        return _replace_recovery_codes(session, user)


def disable_totp(*, user_id: str, code: str) -> None:
    """Turn 2FA off; needs a current code or a recovery code."""
    with session_scope() as session:
        user = _live_user(session, user_id)
        if not user.totp_enabled:
            return
        if not check_second_factor(session, user, code):
            raise ValidationError({"code": "That code is not valid."})
        user.totp_enabled = False
        user.totp_secret_encrypted = None
        for rc in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
            session.delete(rc)


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
