"""agents: agents, versions, runs, steps (the trace) and approvals (issue 21).

Revision ID: 0041
Revises: 0040
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
JSONB = postgresql.JSONB


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("team_id", UUID, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False, server_default="team"),
        sa.Column("created_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("visibility IN ('team', 'organization')", name=op.f("ck_agents_visibility")),
    )
    op.create_index("uq_agents_lower_name", "agents", [sa.text("lower(name)")], unique=True)
    op.create_index("ix_agents_team_id", "agents", ["team_id"])
    op.create_index("ix_agents_created_at_id", "agents", ["created_at", "id"])
    op.create_table(
        "agent_versions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("agent_id", UUID, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("system_prompt", sa.Text),
        sa.Column("prompt_ref", JSONB),
        sa.Column("tool_ids", postgresql.ARRAY(UUID), nullable=False, server_default="{}"),
        sa.Column("limits", JSONB, nullable=False, server_default="{}"),
        sa.Column("params", JSONB, nullable=False, server_default="{}"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        _now(),
        sa.UniqueConstraint("agent_id", "version", name="uq_agent_versions_agent_id_version"),
    )
    op.create_table(
        "agent_runs",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("agent_id", UUID, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("team_id", UUID, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("created_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(20), nullable=False, server_default="running"),
        sa.Column("stop_reason", sa.String(200)),
        sa.Column("source", sa.String(16), nullable=False, server_default="api"),
        sa.Column("input", JSONB, nullable=False, server_default="[]"),
        sa.Column("output", sa.Text),
        sa.Column("steps", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("conversation", sa.Text),
        sa.Column("api_key_id", UUID, sa.ForeignKey("api_keys.id", ondelete="SET NULL")),
        sa.Column("api_key_secret", sa.Text),
        _now(),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('running', 'waiting_approval', 'succeeded', 'failed', 'limit_reached', 'cancelled')",
            name=op.f("ck_agent_runs_status"),
        ),
    )
    op.create_index("ix_agent_runs_agent_id_created_at", "agent_runs", ["agent_id", "created_at"])
    op.create_index("ix_agent_runs_team_id_created_at", "agent_runs", ["team_id", "created_at"])
    op.create_table(
        "agent_steps",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("run_id", UUID, sa.ForeignKey("agent_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("tool_call_id", sa.String(200)),
        sa.Column("parallel_group", sa.Integer),
        sa.Column("input", JSONB),
        sa.Column("output", JSONB),
        sa.Column("latency_ms", sa.Float),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("cost", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('model', 'tool', 'approval', 'answer', 'error')", name=op.f("ck_agent_steps_kind")
        ),
        sa.UniqueConstraint("run_id", "index", name="uq_agent_steps_run_id_index"),
    )
    op.create_table(
        "agent_approvals",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("run_id", UUID, sa.ForeignKey("agent_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tool_call_id", sa.String(200), nullable=False),
        sa.Column("tool_id", UUID, nullable=False),
        sa.Column("tool_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("arguments", JSONB),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("comment", sa.Text),
        sa.Column("decided_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        _now(),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_agent_approvals_status")),
    )
    op.create_index("ix_agent_approvals_run_id", "agent_approvals", ["run_id"])


def downgrade() -> None:
    for table in ("agent_approvals", "agent_steps", "agent_runs", "agent_versions", "agents"):
        op.drop_table(table)
