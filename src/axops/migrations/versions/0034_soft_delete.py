"""soft delete and restore of models and datasets (issue 19).

A deleted model or dataset keeps its row, versions and objects, marked `deleted_at`/`deleted_by`,
until the purge task removes them after AXOPS_DELETED_RETENTION_DAYS. The name stays held meanwhile
(the (team_id, name) unique constraints are unchanged).

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

TABLES = ("registered_models", "datasets")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(
            table,
            sa.Column("deleted_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        )
        # The purge sweep and the "deleted" lists read only the few deleted rows.
        op.create_index(
            f"ix_{table}_deleted_at", table, ["deleted_at"], postgresql_where=sa.text("deleted_at IS NOT NULL")
        )
    # The training-log retention sweep finds finished jobs by age.
    op.create_index(
        "ix_training_jobs_finished_at",
        "training_jobs",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_training_jobs_finished_at", table_name="training_jobs")
    for table in TABLES:
        op.drop_index(f"ix_{table}_deleted_at", table_name=table)
        op.drop_column(table, "deleted_by")
        op.drop_column(table, "deleted_at")
