"""MCP servers a workspace registered: their tools become agent tools (``tools/mcp_client.py``).

``transport`` is ``"http"`` (Streamable HTTP at ``url``) or ``"stdio"`` (``command``, run
only when the operator sets ``MCP_ALLOW_STDIO=true``). Headers (a bearer token among them)
are stored encrypted only, like provider keys. ``tools`` caches the server's tool list
(name, description, input schema) as of ``tools_refreshed_at``; agents enable individual
tools by name (see ``agents.tools``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, func, text
from sqlmodel import Field

from galaxyco_ui.models.base import TenantMixin, new_id

MCP_TRANSPORTS = ("http", "stdio")


class McpServer(TenantMixin, table=True):
    __tablename__ = "mcp_servers"
    __table_args__ = (
        Index(
            "uq_mcp_servers_workspace_id_name_live",
            "workspace_id",
            func.lower(text("name")),
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    transport: str = Field(default="http", max_length=16)
    url: str = Field(default="", max_length=2000)
    # stdio only: the argv to start, e.g. ["python", "-m", "my_server"].
    command: list[str] = Field(default_factory=list, sa_type=JSON)
    # JSON object of header name → value, encrypted (``infra.crypto``, purpose "mcp-headers").
    headers_encrypted: str = Field(default="", sa_type=Text)
    tools: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    tools_refreshed_at: datetime | None = None
    last_error: str = Field(default="", max_length=1000)
    deleted_at: datetime | None = None
