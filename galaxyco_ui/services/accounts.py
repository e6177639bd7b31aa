"""Accounts: sign-up and sign-in (password, OAuth, 2FA), session tokens, sign-out.

Sign-in never sets a cookie itself. It creates a *pending* session holding the hash
of a one-time ticket (valid 60 s); the browser is sent to ``/api/auth/session`` with
the ticket, and that route exchanges it (``exchange_ticket``) for the session token
that goes into the HttpOnly cookie. The token and ticket are stored only as hashes.
A user's own profile, password, two-factor setup and session list live in
``services/profile.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, or_, select, update

from galaxyco_ui.auth import passwords, totp
from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.auth.tokens import hash_token, new_token
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import (
    AuthenticationError,
    ConflictError,
    RateLimitedError,
    TwoFactorRequiredError,
    ValidationError,
)
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_ip_limiter, get_login_limiter
from galaxyco_ui.models import (
    OAuthAccount,
    RecoveryCode,
    User,
    UserSession,
    Workspace,
    WorkspaceMember,
    utcnow,
)
from galaxyco_ui.services.validation import clean_name, normalize_email
from galaxyco_ui.services.workspaces import add_workspace, find_membership

TICKET_TTL = timedelta(seconds=60)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
TOTP_PURPOSE = "totp"
BAD_CREDENTIALS = "Email or password is incorrect."


@dataclass(frozen=True, slots=True)
class AuthSession:
    """A verified session: who is signed in and which workspace they are looking at."""

    session_id: str
    user_id: str
    email: str
    name: str
    workspace_id: str | None
    role: Role | None


# ---------------------------------------------------------------- sign-up / sign-in


def sign_up(*, email: str, name: str, password: str, ip: str = "", user_agent: str = "") -> str:
    """Create a user and their personal workspace, and start a session.

    Returns:
        The one-time login ticket to exchange for the session cookie.

    Raises:
        ValidationError: bad email, name or password (per field).
        ConflictError: the email already has an account.
    """
    email = normalize_email(email)
    name = clean_name(name, field="name", label="Name", max_length=120)
    if problem := passwords.password_problem(password):
        raise ValidationError({"password": problem})
    password_hash = passwords.hash_password(password)
    with session_scope() as session:
        if _user_by_email(session, email) is not None:
            raise ConflictError({"email": "An account with this email already exists. Sign in instead."})
        user = User(email=email, name=name, password_hash=password_hash)
        session.add(user)
        session.flush()
        workspace = create_personal_workspace(session, user)
        return _start_session(session, user, workspace.id, ip=ip, user_agent=user_agent, method="password")


def create_personal_workspace(session: Session, user: User) -> Workspace:
    """The workspace every new user gets, with them as its owner."""
    first_name = user.name.split(" ")[0]
    return add_workspace(session, user_id=user.id, name=f"{first_name}'s workspace"[:80])


def sign_in(*, email: str, password: str, totp_code: str = "", ip: str = "", user_agent: str = "") -> str:
    """Check credentials (and the second factor when enabled) and start a session.

    Returns:
        The one-time login ticket.

    Raises:
        RateLimitedError: too many recent failures for this email or address.
        TwoFactorRequiredError: the password is right and a TOTP code is needed.
        AuthenticationError: wrong email, password or code.
    """
    email_key = f"login:email:{(email or '').strip().lower()}"
    ip_key = f"login:ip:{ip or 'unknown'}"
    by_email, by_ip = get_login_limiter(), get_ip_limiter()
    if wait := max(by_email.check(email_key), by_ip.check(ip_key)):
        minutes = max(1, round(wait / 60))
        raise RateLimitedError(
            f"Too many failed sign-in attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=wait,
        )

    def fail(message: str = BAD_CREDENTIALS) -> AuthenticationError:
        by_email.record_failure(email_key)
        by_ip.record_failure(ip_key)
        return AuthenticationError(message)

    with session_scope() as session:
        user = _user_by_email(session, (email or "").strip().lower())
        if user is None or not passwords.verify_password(user.password_hash, password or ""):
            if user is None:
                passwords.hash_password("timing-equaliser")  # same cost as a real check
            raise fail()
        if user.totp_enabled:
            if not totp_code.strip():
                raise TwoFactorRequiredError()
            if not check_second_factor(session, user, totp_code):
                raise fail("That code is not valid. Use a current code or a recovery code.")
        by_email.reset(email_key)
        return _start_session(session, user, None, ip=ip, user_agent=user_agent, method="password")


def sign_in_with_oauth(
    *,
    provider: str,
    subject: str,
    email: str,
    email_verified: bool,
    name: str,
    ip: str = "",
    user_agent: str = "",
) -> str:
    """Sign in through an identity provider, linking or creating the account.

    A known (provider, subject) signs in its user. Otherwise a *verified* email that
    matches an account links to it; an unknown verified email creates an account.

    Returns:
        The one-time login ticket.

    Raises:
        AuthenticationError: the provider gave no verified email for a new link.
    """
    with session_scope() as session:
        link = session.exec(
            select(OAuthAccount).where(OAuthAccount.provider == provider, OAuthAccount.subject == subject)
        ).first()
        if link is not None:
            user = session.get(User, link.user_id)
            if user is None or user.deleted_at is not None:
                raise AuthenticationError("This account is no longer active.")
            return _start_session(session, user, None, ip=ip, user_agent=user_agent, method=provider)
        if not email or not email_verified:
            raise AuthenticationError(
                "Your identity provider did not confirm a verified email address, so we cannot sign you in."
            )
        email = email.strip().lower()
        user = _user_by_email(session, email)
        if user is None:
            user = User(email=email, name=(name or email.split("@")[0])[:120], email_verified=True)
            session.add(user)
            session.flush()
            create_personal_workspace(session, user)
        elif not user.email_verified:
            user.email_verified = True
        session.add(OAuthAccount(user_id=user.id, provider=provider, subject=subject, email=email))
        return _start_session(session, user, None, ip=ip, user_agent=user_agent, method=provider)


def exchange_ticket(*, ticket: str) -> str:
    """Turn a one-time login ticket into a session token (once, within 60 s).

    Raises:
        AuthenticationError: unknown, used or expired ticket.
    """
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.ticket_hash == hash_token(ticket))).first()
        if (
            row is None
            or row.revoked_at is not None
            or row.ticket_expires_at is None
            or row.ticket_expires_at < utcnow()
        ):
            raise AuthenticationError("This sign-in link has expired. Please sign in again.")
        token = new_token()
        row.token_hash = hash_token(token)
        row.ticket_hash = None
        row.ticket_expires_at = None
        row.last_seen_at = utcnow()
        return token


def resolve_session(*, token: str) -> AuthSession | None:
    """The live session for a cookie token, or None if unknown, expired or revoked.

    Falls back to the user's first workspace when the session's current workspace
    is gone or the user is no longer a member of it.
    """
    if not token:
        return None
    now = utcnow()
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
        if row is None or row.revoked_at is not None or row.expires_at < now:
            return None
        user = session.get(User, row.user_id)
        if user is None or user.deleted_at is not None:
            return None
        membership = find_membership(session, workspace_id=row.current_workspace_id, user_id=user.id)
        if membership is None:
            membership = session.exec(
                select(WorkspaceMember)
                .join(Workspace, col(Workspace.id) == col(WorkspaceMember.workspace_id))
                .where(WorkspaceMember.user_id == user.id, col(Workspace.deleted_at).is_(None))
                .order_by(col(WorkspaceMember.created_at))
            ).first()
            row.current_workspace_id = membership.workspace_id if membership else None
        if row.last_seen_at is None or now - row.last_seen_at > LAST_SEEN_RESOLUTION:
            row.last_seen_at = now
        return AuthSession(
            session_id=row.id,
            user_id=user.id,
            email=user.email,
            name=user.name,
            workspace_id=membership.workspace_id if membership else None,
            role=Role(membership.role) if membership else None,
        )


def sign_out(*, token: str) -> None:
    """Revoke the session behind ``token`` (no error if it is already gone)."""
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()


# ---------------------------------------------------------------- internals


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email, col(User.deleted_at).is_(None))).first()


def _start_session(
    session: Session, user: User, workspace_id: str | None, *, ip: str, user_agent: str, method: str
) -> str:
    ticket = new_token()
    now = utcnow()
    session.add(
        UserSession(
            user_id=user.id,
            ticket_hash=hash_token(ticket),
            ticket_expires_at=now + TICKET_TTL,
            current_workspace_id=workspace_id,
            expires_at=now + timedelta(hours=get_settings().session_ttl_hours),
            ip=ip[:64],
            user_agent=user_agent[:300],
            method=method,
        )
    )
    return ticket


def check_second_factor(session: Session, user: User, code: str, *, allow_recovery: bool = True) -> bool:
    """Accept a TOTP code (each time step once) or, if allowed, an unused recovery code.

    Both are claimed with a conditional UPDATE inside ``session``'s transaction, so two
    concurrent sign-ins with the same code cannot both pass: the second one's UPDATE
    waits for the first to commit and then matches no row.
    """
    if user.totp_secret_encrypted:
        step = totp.verify_code(crypto.decrypt(user.totp_secret_encrypted, purpose=TOTP_PURPOSE), code)
        if step is not None:
            claimed = session.exec(
                update(User)
                .where(
                    col(User.id) == user.id,
                    or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
                )
                .values(totp_last_step=step)
            )
            return claimed.rowcount == 1  # 0: this step (or a later one) was already used
    if not allow_recovery:
        return False
    wanted = hash_token(totp.normalize_recovery_code(code))
    rc_id = session.exec(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == wanted,
            col(RecoveryCode.used_at).is_(None),
        )
    ).first()
    if rc_id is None:
        return False
    used = session.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.id) == rc_id, col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    return used.rowcount == 1
