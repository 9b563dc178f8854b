"""tools: the tool registry (tools, versions, MCP servers, calls) of issue 21.

Revision ID: 0040
Revises: 0039
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _user(name: str) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("team_id", UUID(as_uuid=True), sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("command", ARRAY(sa.Text()), nullable=False),
        sa.Column("headers_encrypted", sa.Text(), nullable=True),
        sa.Column("tools", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=True),
        _user("created_by"),
        *_timestamps(),
        sa.CheckConstraint("transport IN ('http', 'stdio')", name="transport"),
    )
    op.create_index(
        "uq_mcp_servers_team_id_lower_name",
        "mcp_servers",
        ["team_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "tools",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("team_id", UUID(as_uuid=True), sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("allow_hosts", ARRAY(sa.Text()), nullable=False),
        sa.Column("credential_encrypted", sa.Text(), nullable=True),
        sa.Column(
            "mcp_server_id", UUID(as_uuid=True), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("visibility", sa.String(16), nullable=False),
        _user("created_by"),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('http', 'mcp', 'python')", name="kind"),
        sa.CheckConstraint("visibility IN ('team')", name="visibility"),
    )
    op.create_index("uq_tools_team_id_lower_name", "tools", ["team_id", sa.literal_column("lower(name)")], unique=True)
    op.create_index("ix_tools_created_at_id", "tools", ["created_at", "id"])
    op.create_index("ix_tools_mcp_server_id", "tools", ["mcp_server_id"])
    op.create_table(
        "tool_versions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tool_id", UUID(as_uuid=True), sa.ForeignKey("tools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parameters", JSONB(), nullable=False),
        sa.Column("spec", JSONB(), nullable=False),
        _user("created_by"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("tool_id", "version", name="uq_tool_versions_tool_id_version"),
    )
    op.create_table(
        "tool_calls",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tool_id", UUID(as_uuid=True), sa.ForeignKey("tools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("team_id", UUID(as_uuid=True), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        _user("caller_id"),
        sa.Column("agent_run_id", UUID(as_uuid=True), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'error')", name="status"),
    )
    op.create_index("ix_tool_calls_tool_id_created_at", "tool_calls", ["tool_id", "created_at"])
    op.create_index("ix_tool_calls_team_id_created_at", "tool_calls", ["team_id", "created_at"])


def downgrade() -> None:
    op.drop_table("tool_calls")
    op.drop_table("tool_versions")
    op.drop_table("tools")
    op.drop_table("mcp_servers")
