"""An index for the home dashboard's last-24-hours gateway figures (issue 14).

The home page reads every usage record of the last day (requests, errors, p95 latency, cost per
hour) for gateway admins. `ix_usage_records_created_at` covers that read by time alone and carries
the columns it sums, so it is an index-only scan over the recent rows instead of a scan of the
month's partition. (Per-user reads already have `ix_usage_records_user_created_at`.)

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_usage_records_created_at",
        "usage_records",
        ["created_at"],
        unique=False,
        postgresql_include=["status", "latency_ms", "cost"],
    )


def downgrade() -> None:
    op.drop_index("ix_usage_records_created_at", table_name="usage_records")
