"""violations (issue 18): violations found over the audit log and gateway usage, rule settings and the
detection job's watermark.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("subject_name", sa.String(200), nullable=False),
        sa.Column("team_id", UUID(as_uuid=True), nullable=True),
        sa.Column("evidence", JSONB, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_violations_status")),
        sa.CheckConstraint("severity IN ('critical', 'warning', 'info')", name=op.f("ck_violations_severity")),
        sa.CheckConstraint("subject_type IN ('user', 'apikey', 'team')", name=op.f("ck_violations_subject_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
    )
    op.create_index("ix_violations_team_id", "violations", ["team_id"])
    op.create_index("ix_violations_created_at_id", "violations", ["created_at", "id"])
    op.create_index(
        "uq_violations_active",
        "violations",
        ["kind", "subject_type", "subject_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_table(
        "violation_rules",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("config", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_violation_rules")),
    )
    op.create_table(
        "violation_watermark",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violation_watermark")),
    )


def downgrade() -> None:
    op.drop_table("violation_watermark")
    op.drop_table("violation_rules")
    op.drop_table("violations")
