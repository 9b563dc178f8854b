"""compliance reports (issue 18).

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_reports",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("generated_by", postgresql.UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("generated_by_name", sa.String(100), nullable=False),
        sa.Column("html_key", sa.String(300), nullable=False),
        sa.Column("html_size", sa.BigInteger(), nullable=False),
        sa.Column("html_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_key", sa.String(300)),
        sa.Column("pdf_size", sa.BigInteger()),
        sa.Column("pdf_sha256", sa.String(64)),
        sa.Column("checklist", postgresql.JSONB(), nullable=False),
        sa.UniqueConstraint("period", "period_start", name=op.f("uq_compliance_reports_period_start")),
        sa.CheckConstraint("period IN ('week', 'month')", name=op.f("ck_compliance_reports_period")),
    )


def downgrade() -> None:
    op.drop_table("compliance_reports")
