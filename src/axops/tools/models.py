"""Tool registry tables: tools, their immutable numbered versions, MCP servers (discovered tools kept
on the row) and every call (for analytics)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

KINDS = ("http", "mcp", "python")
TRANSPORTS = ("http", "stdio")
CALL_STATUSES = ("ok", "error")


class McpServer(IdMixin, TimestampMixin, Base):
    """An MCP server a team connected: `tools` is the last discovery ([{name, description, input_schema}])."""

    __tablename__ = "mcp_servers"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    transport: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)
    command: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    headers_encrypted: Mapped[str | None] = mapped_column(Text)  # JSON of the headers, encrypted (core/crypto)
    tools: Mapped[list] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(16), default="new")
    last_error: Mapped[str | None] = mapped_column(Text)
    discovered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(f"transport IN {TRANSPORTS}", name="transport"),
        Index("uq_mcp_servers_team_id_lower_name", "team_id", func.lower(text("name")), unique=True),
    )


class Tool(IdMixin, TimestampMixin, Base):
    __tablename__ = "tools"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))  # unique per team (case-insensitively); the model calls it by name
    kind: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    timeout_s: Mapped[float] = mapped_column(Float, default=30.0)
    allow_hosts: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    credential_encrypted: Mapped[str | None] = mapped_column(Text)  # never returned: `has_credential` instead
    mcp_server_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mcp_servers.id", ondelete="CASCADE"))
    visibility: Mapped[str] = mapped_column(String(16), default="team")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cost_per_call: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))  # e.g. a paid API

    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint("cost_per_call >= 0", name="cost_per_call"),
        CheckConstraint("visibility IN ('team')", name="visibility"),
        Index("uq_tools_team_id_lower_name", "team_id", func.lower(text("name")), unique=True),
        Index("ix_tools_created_at_id", "created_at", "id"),
        Index("ix_tools_mcp_server_id", "mcp_server_id"),
    )


class ToolVersion(IdMixin, Base):
    """Immutable once written. `parameters` is a JSON schema (an object); `spec` by kind: http {method,
    base_url, path, params: {name: {in: path|query|header|body}}, auth: {type: bearer|header|query, name}},
    python {source, function}, mcp {tool_name}."""

    __tablename__ = "tool_versions"
    tool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict] = mapped_column(JSONB)
    spec: Mapped[dict] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("tool_id", "version", name="uq_tool_versions_tool_id_version"),)


class ToolCall(IdMixin, Base):
    """One call of a tool (by a person's test run or an agent run): what analytics count."""

    __tablename__ = "tool_calls"
    tool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    caller_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    agent_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # no FK: agents live above
    status: Mapped[str] = mapped_column(String(8))
    error_kind: Mapped[str | None] = mapped_column(String(32))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))  # the tool's price per call
    # an agent run's call: the cost of the model step that asked for it, split evenly among that step's calls
    model_cost: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint(f"status IN {CALL_STATUSES}", name="status"),
        Index("ix_tool_calls_tool_id_created_at", "tool_id", "created_at"),
        Index("ix_tool_calls_team_id_created_at", "team_id", "created_at"),
        Index("ix_tool_calls_agent_run_id", "agent_run_id"),
        # tool analytics' per tool stats: rows already in (tool, latency) order for the percentiles, read
        # from the index alone (tools/usage.py)
        Index(
            "ix_tool_calls_tool_id_latency_ms",
            "tool_id",
            "latency_ms",
            postgresql_include=["created_at", "team_id", "status", "error_kind", "cost", "model_cost"],
        ),
    )
