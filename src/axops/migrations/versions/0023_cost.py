"""Cost (issue 17): the hourly rate of a GPU per GPU type.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cost_gpu_rates",
        sa.Column("gpu_type", sa.String(length=100), nullable=False),
        sa.Column("hourly_rate", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.CheckConstraint("hourly_rate >= 0", name=op.f("ck_cost_gpu_rates_hourly_rate")),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_cost_gpu_rates_updated_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("gpu_type", name=op.f("pk_cost_gpu_rates")),
    )


def downgrade() -> None:
    op.drop_table("cost_gpu_rates")
