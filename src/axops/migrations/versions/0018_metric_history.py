"""Metric history (issue 17): series, raw points, per-minute and per-hour rollups, collector watermarks.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_series")),
        sa.UniqueConstraint("name", "labels", name="uq_metric_series_name_labels"),
    )
    op.create_table(
        "metric_points",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["metric_series.id"],
            name=op.f("fk_metric_points_series_id_metric_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "ts", name=op.f("pk_metric_points")),
    )
    op.create_index("ix_metric_points_ts", "metric_points", ["ts"])
    for table in ("metric_points_1m", "metric_points_1h"):
        op.create_table(
            table,
            sa.Column("series_id", sa.BigInteger(), nullable=False),
            sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
            sa.Column("count", sa.BigInteger(), nullable=False),
            sa.Column("sum", sa.Double(), nullable=False),
            sa.Column("min", sa.Double(), nullable=False),
            sa.Column("max", sa.Double(), nullable=False),
            sa.ForeignKeyConstraint(
                ["series_id"],
                ["metric_series.id"],
                name=op.f(f"fk_{table}_series_id_metric_series"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f(f"pk_{table}")),
        )
        op.create_index(f"ix_{table}_bucket", table, ["bucket"])
    op.create_table(
        "metric_watermarks",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_metric_watermarks")),
    )


def downgrade() -> None:
    for table in ("metric_watermarks", "metric_points_1h", "metric_points_1m", "metric_points", "metric_series"):
        op.drop_table(table)
