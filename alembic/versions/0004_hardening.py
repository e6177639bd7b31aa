"""hardening: TOTP replay guard, browser-bound sign-in tickets, 2FA after OAuth

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The last TOTP time step accepted for a user: a code is good once.
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        # SHA-256 of the pre-auth cookie of the browser that signed in: the ticket is
        # exchanged only by that browser (login CSRF).
        batch_op.add_column(
            sa.Column("binding_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        # An OAuth sign-in of a user with TOTP on: the session exists but is not usable
        # until the second factor is checked.
        batch_op.add_column(sa.Column("mfa_pending", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_column("mfa_pending")
        batch_op.drop_column("binding_hash")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
