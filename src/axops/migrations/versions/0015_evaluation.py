"""Evaluation (issue 16): evaluation sets (a dataset version + column mapping), suites with thresholds,
runs of up to four targets, the rows a run sampled and each target's result per row.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("dataset_version_id", sa.UUID(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_eval_sets_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_eval_sets_dataset_version_id_dataset_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_eval_sets_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_sets")),
        sa.UniqueConstraint("team_id", "name", name="uq_eval_sets_team_id_name"),
    )
    op.create_index(op.f("ix_eval_sets_dataset_version_id"), "eval_sets", ["dataset_version_id"], unique=False)
    op.create_index(op.f("ix_eval_sets_team_id"), "eval_sets", ["team_id"], unique=False)
    op.create_table(
        "eval_suites",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("eval_set_id", sa.UUID(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("judges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tokenizer", sa.String(length=16), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=True),
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("model_id", sa.UUID(), nullable=True),
        sa.Column("target", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("run_on_new_version", sa.Boolean(), nullable=False),
        sa.Column("interval_hours", sa.Integer(), nullable=True),
        sa.Column("last_scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_eval_suites_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["eval_set_id"], ["eval_sets.id"], name=op.f("fk_eval_suites_eval_set_id_eval_sets"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_eval_suites_model_id_registered_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_eval_suites_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_suites")),
        sa.UniqueConstraint("team_id", "name", name="uq_eval_suites_team_id_name"),
    )
    op.create_index(op.f("ix_eval_suites_eval_set_id"), "eval_suites", ["eval_set_id"], unique=False)
    op.create_index(op.f("ix_eval_suites_model_id"), "eval_suites", ["model_id"], unique=False)
    op.create_index(op.f("ix_eval_suites_team_id"), "eval_suites", ["team_id"], unique=False)
    op.create_table(
        "eval_runs",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("eval_set_id", sa.UUID(), nullable=False),
        sa.Column("suite_id", sa.UUID(), nullable=True),
        sa.Column("model_version_id", sa.UUID(), nullable=True),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("judges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tokenizer", sa.String(length=16), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("max_cost", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("verdict", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("experiment_run_id", sa.UUID(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("api_key_secret", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'stopped')",
            name=op.f("ck_eval_runs_status"),
        ),
        sa.CheckConstraint("concurrency BETWEEN 1 AND 64", name=op.f("ck_eval_runs_concurrency")),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_eval_runs_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_eval_runs_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["eval_set_id"], ["eval_sets.id"], name=op.f("fk_eval_runs_eval_set_id_eval_sets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["experiment_run_id"], ["runs.id"], name=op.f("fk_eval_runs_experiment_run_id_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_eval_runs_model_version_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"], ["eval_suites.id"], name=op.f("fk_eval_runs_suite_id_eval_suites"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_eval_runs_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
    )
    op.create_index(op.f("ix_eval_runs_eval_set_id"), "eval_runs", ["eval_set_id"], unique=False)
    op.create_index(op.f("ix_eval_runs_model_version_id"), "eval_runs", ["model_version_id"], unique=False)
    op.create_index(op.f("ix_eval_runs_suite_id"), "eval_runs", ["suite_id"], unique=False)
    op.create_index("ix_eval_runs_team_id_created_at", "eval_runs", ["team_id", "created_at"], unique=False)
    op.create_table(
        "eval_results",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("target_key", sa.String(length=1), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("judges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name=op.f("fk_eval_results_run_id_eval_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "row_index", "target_key", name=op.f("pk_eval_results")),
    )
    op.create_table(
        "eval_rows",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("references", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pairwise", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name=op.f("fk_eval_rows_run_id_eval_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "row_index", name=op.f("pk_eval_rows")),
    )


def downgrade() -> None:
    op.drop_table("eval_rows")
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_team_id_created_at", table_name="eval_runs")
    op.drop_index(op.f("ix_eval_runs_suite_id"), table_name="eval_runs")
    op.drop_index(op.f("ix_eval_runs_model_version_id"), table_name="eval_runs")
    op.drop_index(op.f("ix_eval_runs_eval_set_id"), table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_index(op.f("ix_eval_suites_team_id"), table_name="eval_suites")
    op.drop_index(op.f("ix_eval_suites_model_id"), table_name="eval_suites")
    op.drop_index(op.f("ix_eval_suites_eval_set_id"), table_name="eval_suites")
    op.drop_table("eval_suites")
    op.drop_index(op.f("ix_eval_sets_team_id"), table_name="eval_sets")
    op.drop_index(op.f("ix_eval_sets_dataset_version_id"), table_name="eval_sets")
    op.drop_table("eval_sets")
