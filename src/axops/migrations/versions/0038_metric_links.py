"""the logged model and dataset of MLflow 3 metric points (issue 20).

Revision ID: 0038
Revises: 0037
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_metric_links",
        sa.Column(
            "run_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("model_id", sa.String(100), primary_key=True),
        sa.Column("dataset_name", sa.String(500), primary_key=True),
        sa.Column("dataset_digest", sa.String(36), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("run_metric_links")
