"""dataset inputs of runs (issue 20): run_dataset_inputs (mlflow.log_input, linked to an axops dataset
version when that is the source) and run_model_links (logged models a run read or produced).

Revision ID: 0037
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_dataset_inputs",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("run_id", UUID(as_uuid=True), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=True),
        sa.Column("profile", sa.Text(), nullable=True),
        sa.Column("tags", JSONB(), nullable=False),
        sa.Column(
            "dataset_version_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dataset_versions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp(), nullable=False),
        sa.UniqueConstraint("run_id", "name", "digest", name="uq_run_dataset_inputs_run_name_digest"),
    )
    op.create_index("ix_run_dataset_inputs_dataset_version_id", "run_dataset_inputs", ["dataset_version_id"])
    op.create_table(
        "run_model_links",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("run_id", UUID(as_uuid=True), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("model_id", sa.String(100), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("run_id", "direction", "model_id", name="uq_run_model_links"),
    )


def downgrade() -> None:
    op.drop_table("run_model_links")
    op.drop_index("ix_run_dataset_inputs_dataset_version_id", table_name="run_dataset_inputs")
    op.drop_table("run_dataset_inputs")
