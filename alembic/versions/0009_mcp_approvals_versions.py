"""mcp, approvals and versions: MCP servers, tool calls waiting for a person, agent versions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 22:00:00.000000

Every existing agent gets version 1 (its current configuration), so "every agent has a
history" holds from the first save after the upgrade on; runs from before keep
``agent_version`` NULL (their ``agent_snapshot`` still says what they ran).
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # Plain ALTERs, not a batch: SQLite's batch mode would reflect (and warn about) the
    # expression index on agents' names; ADD/DROP COLUMN need no table copy.
    op.add_column("agents", sa.Column("approval_tools", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "agents", sa.Column("approval_timeout_seconds", sa.Integer(), nullable=False, server_default="3600")
    )
    op.add_column("agents", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("agent_version", sa.Integer(), nullable=True))
    op.add_column("schedules", sa.Column("agent_version", sa.Integer(), nullable=True))

    op.create_table(
        "agent_versions",
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("workspace_id", _S(length=32), nullable=False),
        sa.Column("agent_id", _S(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("note", _S(length=200), nullable=False),
        sa.Column("created_by", _S(length=32), nullable=True),
        sa.Column("created_at", _T(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "number", name="uq_agent_versions_agent_id_number"),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("workspace_id", _S(length=32), nullable=False),
        sa.Column("run_id", _S(length=32), nullable=False),
        sa.Column("agent_id", _S(length=32), nullable=False),
        sa.Column("tool_call_id", _S(length=200), nullable=False),
        sa.Column("tool_name", _S(length=200), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", _S(length=32), nullable=True),
        sa.Column("decided_at", _T(), nullable=True),
        sa.Column("expires_at", _T(), nullable=False),
        sa.Column("created_at", _T(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "tool_call_id", name="uq_tool_approvals_run_id_tool_call_id"),
    )
    with op.batch_alter_table("tool_approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tool_approvals_workspace_id_status_created_at",
            ["workspace_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_tool_approvals_status_expires_at", ["status", "expires_at"], unique=False)
    op.create_table(
        "mcp_servers",
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", _T(), nullable=False),
        sa.Column("updated_at", _T(), nullable=False),
        sa.Column("workspace_id", _S(length=32), nullable=False),
        sa.Column("created_by", _S(length=32), nullable=True),
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("name", _S(length=80), nullable=False),
        sa.Column("transport", _S(length=16), nullable=False),
        sa.Column("url", _S(length=2000), nullable=False),
        sa.Column("command", sa.JSON(), nullable=False),
        sa.Column("headers_encrypted", sa.Text(), nullable=False),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("tools_refreshed_at", _T(), nullable=True),
        sa.Column("last_error", _S(length=1000), nullable=False),
        sa.Column("deleted_at", _T(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_mcp_servers_workspace_id_name_live",
        "mcp_servers",
        ["workspace_id", sa.text("lower(name)")],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    _backfill_versions()


_SNAPSHOT_QUERY = (
    "SELECT id, workspace_id, name, provider, model, instructions, temperature, max_steps, "
    "max_output_tokens, tools, knowledge_collection_ids, created_by FROM agents WHERE deleted_at IS NULL"
)


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else (value or [])


def _backfill_versions() -> None:
    """Version 1 of every agent: its configuration now, in ``runs.store.agent_snapshot``'s shape."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(_SNAPSHOT_QUERY)).mappings()
    now = datetime.now(UTC)
    versions = sa.table(
        "agent_versions",
        sa.column("id"),
        sa.column("workspace_id"),
        sa.column("agent_id"),
        sa.column("number"),
        sa.column("config", sa.JSON()),
        sa.column("note"),
        sa.column("created_by"),
        sa.column("created_at", _T()),
    )
    batch = []
    for row in rows:
        config = {
            "id": row["id"],
            "name": row["name"],
            "provider": row["provider"],
            "model": row["model"],
            "instructions": row["instructions"],
            "temperature": row["temperature"],
            "max_steps": row["max_steps"],
            "max_output_tokens": row["max_output_tokens"],
            "tools": _json(row["tools"]),
            "knowledge_collection_ids": _json(row["knowledge_collection_ids"]),
            "approval_tools": [],
            "approval_timeout_seconds": 3600,
        }
        batch.append(
            {
                "id": uuid4().hex,
                "workspace_id": row["workspace_id"],
                "agent_id": row["id"],
                "number": 1,
                "config": config,
                "note": "",
                "created_by": row["created_by"],
                "created_at": now,
            }
        )
    if batch:
        op.bulk_insert(versions, batch)
        bind.execute(sa.text("UPDATE agents SET version = 1 WHERE deleted_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_mcp_servers_workspace_id_name_live", table_name="mcp_servers")
    op.drop_table("mcp_servers")
    with op.batch_alter_table("tool_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_approvals_status_expires_at")
        batch_op.drop_index("ix_tool_approvals_workspace_id_status_created_at")
    op.drop_table("tool_approvals")
    op.drop_table("agent_versions")
    op.drop_column("schedules", "agent_version")
    op.drop_column("runs", "agent_version")
    op.drop_column("agents", "version")
    op.drop_column("agents", "approval_timeout_seconds")
    op.drop_column("agents", "approval_tools")
