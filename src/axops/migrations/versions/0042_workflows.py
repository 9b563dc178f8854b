"""workflows: versioned graphs of model, tool, condition and loop nodes, their runs and node traces (issue 21).

Revision ID: 0042
Revises: 0041
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team_id", _UUID, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("created_by", _UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("archived_at", _TS),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_index(
        "uq_workflows_team_lower_name", "workflows", ["team_id", sa.literal_column("lower(name)")], unique=True
    )
    op.create_index("ix_workflows_created_at_id", "workflows", ["created_at", "id"])
    op.create_table(
        "workflow_versions",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("workflow_id", _UUID, sa.ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", _UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_id_version"),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("workflow_id", _UUID, sa.ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("team_id", _UUID, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("created_by", _UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", postgresql.JSONB(), nullable=False),
        sa.Column("output", postgresql.JSONB()),
        sa.Column("error", sa.Text()),
        sa.Column("error_node", sa.String(64)),
        sa.Column("totals", postgresql.JSONB(), nullable=False),
        sa.Column("started_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", _TS),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_workflow_runs_status")),
    )
    op.create_index("ix_workflow_runs_workflow_id_started_at", "workflow_runs", ["workflow_id", "started_at"])
    op.create_table(
        "workflow_node_runs",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("run_id", _UUID, sa.ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("node_type", sa.String(16), nullable=False),
        sa.Column("iteration", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", postgresql.JSONB()),
        sa.Column("output", postgresql.JSONB()),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint("status IN ('ok', 'error', 'skipped')", name=op.f("ck_workflow_node_runs_status")),
    )
    op.create_index("ix_workflow_node_runs_run_id_seq", "workflow_node_runs", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_table("workflow_node_runs")
    op.drop_table("workflow_runs")
    op.drop_table("workflow_versions")
    op.drop_table("workflows")
