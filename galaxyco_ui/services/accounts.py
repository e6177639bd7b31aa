"""Accounts: sign-up and sign-in (password, OAuth, 2FA), session tokens, sign-out.

Sign-in never sets a cookie itself. It creates a *pending* session holding the hash
of a one-time ticket (valid 60 s); the browser is sent to ``/api/auth/session`` with
the ticket, and that route exchanges it (``exchange_ticket``) for the session token
that goes into the HttpOnly cookie. The token and ticket are stored only as hashes.

A ticket is bound to the browser that signed in: sign-in takes the value of that
browser's pre-auth cookie (``binding``, see ``api/cookies.py``) and stores its hash;
the exchange succeeds only when the same value comes back, so nobody can plant their
own session in someone else's browser (login CSRF). A ticket without a binding, or
presented with the wrong one, is refused and burned.

Sign-up is throttled per client address and for the whole install
(``SIGNUP_MAX_PER_IP_PER_HOUR``, ``SIGNUP_MAX_PER_HOUR``) before any password is
hashed. These functions block (argon2, database): async callers run them in a thread.

A user's own profile, password, two-factor setup and session list live in
``services/profile.py``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, or_, select, update

from galaxyco_ui.auth import passwords, totp
from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.auth.tokens import hash_token, new_token, tokens_equal
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
from galaxyco_ui.infra.ratelimit import get_ip_limiter, get_login_limiter, hit_signup_limits
from galaxyco_ui.models import (
    OAuthAccount,
    RecoveryCode,
    User,
    UserSession,
    Workspace,
    WorkspaceMember,
    utcnow,
)
from galaxyco_ui.services import audit
from galaxyco_ui.services.validation import clean_name, normalize_email
from galaxyco_ui.services.workspaces import add_workspace, find_membership

logger = logging.getLogger(__name__)

TICKET_TTL = timedelta(seconds=60)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
TOTP_PURPOSE = "totp"
BAD_CREDENTIALS = "Email or password is incorrect."
BAD_CODE = "That code is not valid. Use a current code or a recovery code."
UNBOUND_TICKET = (
    "This sign-in was started in another browser or tab, or your browser blocks cookies. "
    "Please sign in again here."
)
# A pending OAuth session of a two-factor user: the time allowed to enter the code.
MFA_PENDING_TTL = timedelta(minutes=10)
UNVERIFIED_ACCOUNT = (
    "An account with {email} already exists, but its email address has not been verified, so we "
    "cannot link it to this sign-in. If it is yours, reset its password with “Forgot password?” "
    "on the sign-in page (that proves the address is yours), then sign in this way again."
)


@dataclass(frozen=True, slots=True)
class AuthSession:
    """A verified session: who is signed in and which workspace they are looking at."""

    session_id: str
    user_id: str
    email: str
    name: str
    workspace_id: str | None
    role: Role | None


@dataclass(frozen=True, slots=True)
class OAuthSignIn:
    """The outcome of ``sign_in_with_oauth``.

    Attributes:
        ticket: the one-time login ticket.
        linked: this sign-in linked the provider to an existing account (tell the user).
        second_factor: the session is pending until a TOTP or recovery code is checked.
    """

    ticket: str
    linked: bool
    second_factor: bool
    email: str
    name: str


# ---------------------------------------------------------------- sign-up / sign-in


def sign_up(
    *, email: str, name: str, password: str, ip: str = "", user_agent: str = "", binding: str = ""
) -> str:
    """Create a user and their personal workspace, and start a session.

    Args:
        binding: the signing-up browser's pre-auth cookie value; the ticket is
            exchangeable only with it.

    Returns:
        The one-time login ticket to exchange for the session cookie.

    Raises:
        ValidationError: bad email, name or password (per field).
        RateLimitedError: too many sign-ups from ``ip``, or from everyone, in the last hour.
        ConflictError: the email already has an account.
    """
    email = normalize_email(email)
    name = clean_name(name, field="name", label="Name", max_length=120)
    if problem := passwords.password_problem(password):
        raise ValidationError({"password": problem})
    # Counted before the (deliberately slow) hash: that is the work being limited.
    wait, limit = hit_signup_limits(ip)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        if limit == "ip":
            message = f"Too many sign-ups from this address. Try again in {minutes} min."
        else:
            message = f"Too many new accounts in the last hour. Try again in {minutes} min."
        raise RateLimitedError(message, retry_after=math.ceil(wait))
    password_hash = passwords.hash_password(password)
    with session_scope() as session:
        if _user_by_email(session, email) is not None:
            raise ConflictError({"email": "An account with this email already exists. Sign in instead."})
        user = User(email=email, name=name, password_hash=password_hash)
        session.add(user)
        session.flush()
        workspace = create_personal_workspace(session, user)
        return _start_session(
            session, user, workspace.id, ip=ip, user_agent=user_agent, method="password", binding=binding
        )


def create_personal_workspace(session: Session, user: User) -> Workspace:
    """The workspace every new user gets, with them as its owner."""
    first_name = user.name.split(" ")[0]
    return add_workspace(session, user_id=user.id, name=f"{first_name}'s workspace"[:80])


def sign_in(
    *,
    email: str,
    password: str,
    totp_code: str = "",
    ip: str = "",
    user_agent: str = "",
    binding: str = "",
) -> str:
    """Check credentials (and the second factor when enabled) and start a session.

    Success and failure are audited (``user.signed_in`` / ``user.sign_in_failed`` in
    the user's workspaces; an unknown email only in the log). The password never is.

    Args:
        binding: the signing-in browser's pre-auth cookie value; the ticket is
            exchangeable only with it.

    Returns:
        The one-time login ticket.

    Raises:
        RateLimitedError: too many recent failures for this email or address.
        TwoFactorRequiredError: the password is right and a TOTP code is needed.
        AuthenticationError: wrong email, password or code.
    """
    attempted = (email or "").strip().lower()
    email_key, ip_key = _check_sign_in_lock(attempted, ip)

    with session_scope() as session:
        user = _user_by_email(session, attempted)
        if user is None or not passwords.verify_password(user.password_hash, password or ""):
            if user is None:
                passwords.hash_password("timing-equaliser")  # same cost as a real check
            failed_user_id, message, reason = (user.id if user else None), BAD_CREDENTIALS, "password"
        elif user.totp_enabled and not totp_code.strip():
            raise TwoFactorRequiredError()
        elif user.totp_enabled and not check_second_factor(session, user, totp_code):
            failed_user_id, message, reason = user.id, BAD_CODE, "code"
        else:
            get_login_limiter().reset(email_key)
            audit.record_for_user(
                session, user.id, "user.signed_in", summary="Signed in with a password", ip=ip
            )
            return _start_session(
                session, user, None, ip=ip, user_agent=user_agent, method="password", binding=binding
            )
    # Failure: counted, and audited in a transaction of its own.
    get_login_limiter().record_failure(email_key)
    get_ip_limiter().record_failure(ip_key)
    _audit_failed_sign_in(failed_user_id, attempted, reason=reason, ip=ip)
    raise AuthenticationError(message)


def _audit_failed_sign_in(user_id: str | None, email: str, *, reason: str, ip: str) -> None:
    """A failed sign-in in the log, and in the audit log of the account it aimed at."""
    logger.warning("Sign-in failed", extra={"email": email[:320], "reason": reason, "ip": ip})
    if user_id is None:
        return  # no account, no workspace to tell
    with session_scope() as session:
        audit.record_for_user(
            session,
            user_id,
            "user.sign_in_failed",
            summary=f"Failed sign-in for {email} (wrong {reason})"[:300],
            ip=ip,
            data={"email": email[:320], "reason": reason},
            by_user=False,
        )


def sign_in_with_oauth(
    *,
    provider: str,
    subject: str,
    email: str,
    email_verified: bool,
    name: str,
    ip: str = "",
    user_agent: str = "",
    binding: str = "",
) -> OAuthSignIn:
    """Sign in through an identity provider, linking or creating the account.

    A known (provider, subject) signs in its user. Otherwise the provider must vouch for
    the email: an unknown address creates an account; a *verified* account with that
    address gets linked (``user.oauth_linked`` in its audit log; the caller tells the
    user). An *unverified* account with that address is refused and nothing is created:
    it may have been pre-registered by someone waiting for its owner to sign in here.

    A user with two-factor on gets a pending session (``mfa_pending``) that no cookie
    check accepts until ``complete_second_factor`` has checked a code.

    Returns:
        The one-time login ticket, and whether this sign-in linked an account or still
        needs the second factor.

    Raises:
        AuthenticationError: no verified email for an unknown subject, the address
            belongs to an unverified account, or the linked account is no longer active.
    """
    with session_scope() as session:
        link = session.exec(
            select(OAuthAccount).where(OAuthAccount.provider == provider, OAuthAccount.subject == subject)
        ).first()
        linked = False
        if link is not None:
            user = session.get(User, link.user_id)
            if user is None or user.deleted_at is not None:
                raise AuthenticationError("This account is no longer active.")
        else:
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
                raise AuthenticationError(UNVERIFIED_ACCOUNT.format(email=email))
            else:
                linked = True
                audit.record_for_user(
                    session,
                    user.id,
                    "user.oauth_linked",
                    summary=f"{user.name} can now sign in with {provider}",
                    ip=ip,
                    data={"provider": provider},
                )
            session.add(OAuthAccount(user_id=user.id, provider=provider, subject=subject, email=email))
        pending = user.totp_enabled
        audit.record_for_user(
            session,
            user.id,
            "user.signed_in",
            summary=f"Signed in with {provider}" + (" (code still to check)" if pending else ""),
            ip=ip,
            data={"method": provider},
        )
        ticket = _start_session(
            session,
            user,
            None,
            ip=ip,
            user_agent=user_agent,
            method=provider,
            mfa_pending=pending,
            binding=binding,  # the browser's pre-auth cookie (api/oauth_routes.py)
        )
        return OAuthSignIn(
            ticket=ticket, linked=linked, second_factor=pending, email=user.email, name=user.name
        )


def pending_second_factor(*, token: str) -> str | None:
    """The email of the user whose *pending* session (OAuth + TOTP) this cookie holds, or None."""
    if not token:
        return None
    with session_scope() as session:
        found = _pending_session(session, token)
        return found[1].email if found else None


def complete_second_factor(*, token: str, code: str, ip: str = "") -> None:
    """Check the TOTP (or recovery) code of a pending session, which then becomes usable.

    Failures count toward the same lockout as password sign-ins (per email and per
    client address).

    Raises:
        RateLimitedError: too many recent failures.
        AuthenticationError: no pending session for this cookie, or a wrong code.
    """
    with session_scope() as session:
        found = _pending_session(session, token)
        if found is None:
            raise AuthenticationError("Your sign-in attempt expired. Please sign in again.")
        email = found[1].email
    email_key, ip_key = _check_sign_in_lock(email, ip)
    with session_scope() as session:
        found = _pending_session(session, token)
        if found is None:
            raise AuthenticationError("Your sign-in attempt expired. Please sign in again.")
        row, user = found
        if not check_second_factor(session, user, code or ""):
            failed = True
        else:
            failed = False
            now = utcnow()
            row.mfa_pending = False
            row.expires_at = now + timedelta(hours=get_settings().session_ttl_hours)
            row.last_seen_at = now
    if failed:
        get_login_limiter().record_failure(email_key)
        get_ip_limiter().record_failure(ip_key)
        raise AuthenticationError("That code is not valid. Use a current code or a recovery code.")
    get_login_limiter().reset(email_key)


def exchange_ticket(*, ticket: str, binding: str) -> str:
    """Turn a one-time login ticket into a session token (once, within 60 s).

    Args:
        ticket: the ticket from sign-in.
        binding: the pre-auth cookie value of the browser presenting the ticket; it
            must be the one the ticket was issued for.

    Raises:
        AuthenticationError: unknown, used or expired ticket; or a ticket presented
            without its browser's binding, which also burns it (the pending
            session is revoked, so a leaked ticket cannot be retried).
    """
    if not ticket:
        raise AuthenticationError("This sign-in link has expired. Please sign in again.")
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.ticket_hash == hash_token(ticket))).first()
        if (
            row is None
            or row.revoked_at is not None
            or row.ticket_expires_at is None
            or row.ticket_expires_at < utcnow()
        ):
            raise AuthenticationError("This sign-in link has expired. Please sign in again.")
        if not binding or not row.binding_hash or not tokens_equal(row.binding_hash, hash_token(binding)):
            row.ticket_hash = None
            row.ticket_expires_at = None
            row.revoked_at = utcnow()
            session.commit()  # the burn stands although the error rolls the scope back
            raise AuthenticationError(UNBOUND_TICKET)
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
        if row is None or row.revoked_at is not None or row.expires_at < now or row.mfa_pending:
            return None  # a pending session waits for its second factor (complete_second_factor)
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


def sign_out(*, token: str, ip: str = "") -> None:
    """Revoke the session behind ``token`` (no error if it is already gone).

    Audited as ``user.signed_out`` in the user's workspaces.
    """
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record_for_user(session, row.user_id, "user.signed_out", summary="Signed out", ip=ip)


# ---------------------------------------------------------------- internals


def _pending_session(session: Session, token: str) -> tuple[UserSession, User] | None:
    row = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
    if row is None or not row.mfa_pending or row.revoked_at is not None or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        return None
    return row, user


def _check_sign_in_lock(email: str, ip: str) -> tuple[str, str]:
    """The limiter keys of this email and client address, once neither is locked.

    Raises:
        RateLimitedError: too many recent failures for the email or the address.
    """
    email_key, ip_key = f"login:email:{email}", f"login:ip:{ip or 'unknown'}"
    if wait := max(get_login_limiter().check(email_key), get_ip_limiter().check(ip_key)):
        minutes = max(1, round(wait / 60))
        raise RateLimitedError(
            f"Too many failed sign-in attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=wait,
        )
    return email_key, ip_key


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email, col(User.deleted_at).is_(None))).first()


def _start_session(
    session: Session,
    user: User,
    workspace_id: str | None,
    *,
    ip: str,
    user_agent: str,
    method: str,
    mfa_pending: bool = False,
    binding: str = "",
) -> str:
    """Add a pending session and return its ticket, bound to ``binding`` (unbound: unusable)."""
    ticket = new_token()
    now = utcnow()
    session.add(
        UserSession(
            user_id=user.id,
            ticket_hash=hash_token(ticket),
            ticket_expires_at=now + TICKET_TTL,
            current_workspace_id=workspace_id,
            # A pending session lives only as long as the code step may take.
            expires_at=now
            + (MFA_PENDING_TTL if mfa_pending else timedelta(hours=get_settings().session_ttl_hours)),
            mfa_pending=mfa_pending,
            binding_hash=hash_token(binding) if binding else None,
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
