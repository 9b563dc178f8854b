"""run keywords: an agent run's task keywords (`agent_runs.keywords`, the distinct nouns of its masked user
input) stored once, when the run ends, so tool analytics counts them in SQL instead of analysing every
input at query time (issue 21). NULL = not analysed yet: existing rows are filled lazily by the first
analytics answer that reads them (kiwipiepy over every stored run would make this migration slow).
And an index giving the per tool stats their rows in (tool, latency) order, read from the index alone.

Revision ID: 0045
Revises: 0044
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agent_runs", sa.Column("keywords", postgresql.ARRAY(sa.Text()), nullable=True))
    op.create_index(
        "ix_tool_calls_tool_id_latency_ms",
        "tool_calls",
        ["tool_id", "latency_ms"],
        postgresql_include=["created_at", "team_id", "status", "error_kind", "cost", "model_cost"],
    )


def downgrade() -> None:
    op.drop_index("ix_tool_calls_tool_id_latency_ms", table_name="tool_calls")
    op.drop_column("agent_runs", "keywords")
