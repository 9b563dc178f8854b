"""slos (issue 17): availability and success-rate objectives per gateway route or deployment.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slos",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("deployment_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("time_window", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('availability', 'success')", name=op.f("ck_slos_kind")),
        sa.CheckConstraint("time_window IN ('rolling_30d', 'calendar_month')", name=op.f("ck_slos_time_window")),
        sa.CheckConstraint("target > 0 AND target < 100", name=op.f("ck_slos_target")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_slos_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_slos_team_id_teams"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slos")),
        sa.UniqueConstraint("team_id", "name", name="uq_slos_team_id_name"),
    )
    op.create_index(op.f("ix_slos_team_id"), "slos", ["team_id"], unique=False)
    op.create_index(op.f("ix_slos_route"), "slos", ["route"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_slos_route"), table_name="slos")
    op.drop_index(op.f("ix_slos_team_id"), table_name="slos")
    op.drop_table("slos")
