"""Quality monitoring (issue 16, PRD 5.7): monitors that judge a sampled share of a gateway route's
production requests with an LLM judge, and the judged scores as the route's quality time series.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_monitors",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("judge_route", sa.String(length=200), nullable=False),
        sa.Column("rubric", sa.String(length=64), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=True),
        sa.Column("prompt", sa.String(length=300), nullable=True),
        sa.Column("scale", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("max_per_hour", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("watermark_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark_id", sa.UUID(), nullable=True),
        sa.Column("last_swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("api_key_secret", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("max_per_hour BETWEEN 1 AND 10000", name=op.f("ck_quality_monitors_max_per_hour")),
        sa.CheckConstraint("sample_rate > 0 AND sample_rate <= 1", name=op.f("ck_quality_monitors_sample_rate")),
        sa.CheckConstraint("scale BETWEEN 2 AND 10", name=op.f("ck_quality_monitors_scale")),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_quality_monitors_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_quality_monitors_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_quality_monitors_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_monitors")),
        sa.UniqueConstraint("team_id", "name", name="uq_quality_monitors_team_id_name"),
    )
    op.create_index(op.f("ix_quality_monitors_team_id"), "quality_monitors", ["team_id"], unique=False)
    op.create_table(
        "quality_scores",
        sa.Column("monitor_id", sa.UUID(), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("usage_record_id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("judged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("rubric", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("raw", sa.Integer(), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name=op.f("ck_quality_scores_score")),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["quality_monitors.id"],
            name=op.f("fk_quality_scores_monitor_id_quality_monitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_quality_scores_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_scores")),
        sa.UniqueConstraint("monitor_id", "usage_record_id", name="uq_quality_scores_monitor_id_usage_record_id"),
    )
    op.create_index(
        "ix_quality_scores_monitor_id_created_at", "quality_scores", ["monitor_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_quality_scores_monitor_id_judged_at", "quality_scores", ["monitor_id", "judged_at"], unique=False
    )
    op.create_index("ix_quality_scores_route_created_at", "quality_scores", ["route", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_quality_scores_route_created_at", table_name="quality_scores")
    op.drop_index("ix_quality_scores_monitor_id_judged_at", table_name="quality_scores")
    op.drop_index("ix_quality_scores_monitor_id_created_at", table_name="quality_scores")
    op.drop_table("quality_scores")
    op.drop_index(op.f("ix_quality_monitors_team_id"), table_name="quality_monitors")
    op.drop_table("quality_monitors")
