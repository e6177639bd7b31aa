"""usage: a daily rollup of finished runs (usage_daily) for the usage page

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:04:15.476677

The table starts empty: ``python -m galaxyco_ui.cli backfill-usage`` fills it from the
runs that finished before this migration (see docs/usage.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DURATION_BUCKETS = 28  # models/usage.py: d00 … d27


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("runs_succeeded", sa.Integer(), nullable=False),
        sa.Column("runs_failed", sa.Integer(), nullable=False),
        sa.Column("runs_cancelled", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=16, scale=6), nullable=False),
        sa.Column("runs_unpriced", sa.Integer(), nullable=False),
        sa.Column("duration_ms_sum", sa.BigInteger(), nullable=False),
        sa.Column("duration_runs", sa.Integer(), nullable=False),
        *(sa.Column(f"d{i:02d}", sa.Integer(), nullable=False) for i in range(DURATION_BUCKETS)),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "day", "agent_id", "member_id", "model", "trigger"),
    )
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_daily_workspace_id_agent_id_day", ["workspace_id", "agent_id", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_workspace_id_agent_id_day")
    op.drop_table("usage_daily")
