"""Drift and usage anomalies (issue 17): per-request prompt features on usage records, pinned drift
references, drift results and usage anomalies.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On the partitioned parent: PostgreSQL adds the columns to every partition (nullable, no rewrite).
    op.add_column("usage_records", sa.Column("prompt_chars", sa.Integer(), nullable=True))
    op.add_column("usage_records", sa.Column("hangul_ratio", sa.Float(), nullable=True))
    op.add_column("usage_records", sa.Column("latin_ratio", sa.Float(), nullable=True))
    op.add_column("usage_records", sa.Column("client_ip", sa.String(length=64), nullable=True))
    op.create_table(
        "drift_references",
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("reference_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_by"], ["users.id"], name=op.f("fk_drift_references_set_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("route", name=op.f("pk_drift_references")),
    )
    op.create_table(
        "drift_results",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("test", sa.String(length=16), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("n_current", sa.Integer(), nullable=False),
        sa.Column("n_reference", sa.Integer(), nullable=False),
        sa.Column("current_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_results")),
    )
    op.create_index("ix_drift_results_route_computed_at", "drift_results", ["route", "computed_at"])
    op.create_table(
        "usage_anomalies",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("subject_name", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("keys", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('requests', 'tokens', 'errors', 'off_hours', 'new_ip')", name=op.f("ck_usage_anomalies_kind")
        ),
        sa.CheckConstraint("subject_type IN ('api_key', 'user')", name=op.f("ck_usage_anomalies_subject_type")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_usage_anomalies_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_anomalies")),
    )
    op.create_index(
        "uq_usage_anomalies_open",
        "usage_anomalies",
        ["kind", "subject_type", "subject_id"],
        unique=True,
        postgresql_where=sa.text("acknowledged_at IS NULL"),
    )
    op.create_index("ix_usage_anomalies_last_seen", "usage_anomalies", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_usage_anomalies_last_seen", table_name="usage_anomalies")
    op.drop_index("uq_usage_anomalies_open", table_name="usage_anomalies")
    op.drop_table("usage_anomalies")
    op.drop_index("ix_drift_results_route_computed_at", table_name="drift_results")
    op.drop_table("drift_results")
    op.drop_table("drift_references")
    for column in ("client_ip", "latin_ratio", "hangul_ratio", "prompt_chars"):
        op.drop_column("usage_records", column)
