"""People and how they prove who they are: users, sessions, OAuth links, 2FA codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field

from galaxyco_ui.models.base import MetadataMixin, TimestampMixin, new_id


class User(TimestampMixin, MetadataMixin, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(max_length=120)
    password_hash: str | None = Field(default=None, max_length=255)
    email_verified: bool = Field(default=False)
    totp_secret_encrypted: str | None = Field(default=None, max_length=500)
    totp_enabled: bool = Field(default=False)
    # The last TOTP time step accepted: a code cannot be replayed within its window.
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    deleted_at: datetime | None = None


class UserSession(TimestampMixin, table=True):
    """A signed-in browser. Only hashes of its cookie token and login ticket are stored.

    A session starts *pending*: sign-in creates it with a one-time ``ticket_hash`` that
    the browser exchanges at ``/api/auth/session`` for the HttpOnly cookie token.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id_expires_at", "user_id", "expires_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_expires_at: datetime | None = None
    current_workspace_id: str | None = Field(default=None, foreign_key="workspaces.id", max_length=32)
    expires_at: datetime
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    method: str = Field(default="password", max_length=32)
    # SHA-256 of the pre-auth cookie of the browser that signed in (login CSRF).
    binding_hash: str | None = Field(default=None, max_length=64)
    # OAuth sign-in of a TOTP user: unusable until the second factor is checked.
    mfa_pending: bool = Field(default=False)


class OAuthAccount(TimestampMixin, table=True):
    __tablename__ = "oauth_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_oauth_accounts_provider_subject"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    provider: str = Field(max_length=32)
    subject: str = Field(max_length=255)
    email: str = Field(default="", max_length=320)


class RecoveryCode(TimestampMixin, table=True):
    """A single-use two-factor recovery code, stored hashed."""

    __tablename__ = "recovery_codes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = None
