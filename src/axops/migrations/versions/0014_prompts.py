"""Prompt management (issue 15): prompts, immutable versions, labels and their moves, A/B experiments
on a label, feedback on gateway requests; usage records name the prompt version a request rendered
and the experiment that chose it.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("visibility IN ('team', 'organization')", name=op.f("ck_prompts_visibility")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_prompts_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_prompts_team_id_teams"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
    )
    op.create_index("ix_prompts_created_at_id", "prompts", ["created_at", "id"], unique=False)
    op.create_index("ix_prompts_tags", "prompts", ["tags"], unique=False, postgresql_using="gin")
    op.create_index("ix_prompts_team_id", "prompts", ["team_id"], unique=False)
    op.create_index("uq_prompts_lower_name", "prompts", [sa.literal_column("lower(name)")], unique=True)
    op.create_table(
        "request_feedback",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_request_feedback_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_feedback")),
        sa.UniqueConstraint("request_id", "name", name="uq_request_feedback_request_id_name"),
    )
    op.create_table(
        "prompt_experiments",
        sa.Column("prompt_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("variants", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("max_duration_s", sa.Integer(), nullable=True),
        sa.Column("max_samples", sa.Integer(), nullable=True),
        sa.Column("auto_promote", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.Text(), nullable=True),
        sa.Column("winner_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "metric IN ('feedback', 'error_rate', 'latency')", name=op.f("ck_prompt_experiments_metric")
        ),
        sa.CheckConstraint("status IN ('running', 'stopped', 'promoted')", name=op.f("ck_prompt_experiments_status")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_prompt_experiments_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_experiments_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_experiments")),
    )
    op.create_index(
        "uq_prompt_experiments_running_label",
        "prompt_experiments",
        ["prompt_id", "label"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "prompt_label_moves",
        sa.Column("prompt_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_prompt_label_moves_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_label_moves_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_label_moves")),
    )
    op.create_index(
        "ix_prompt_label_moves_prompt_id_created_at", "prompt_label_moves", ["prompt_id", "created_at"], unique=False
    )
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_labels_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_prompt_labels_updated_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("prompt_id", "name", name=op.f("pk_prompt_labels")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("prompt_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("template", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("variables", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("binding", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint("kind IN ('text', 'chat')", name=op.f("ck_prompt_versions_kind")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_prompt_versions_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_versions_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_id_version"),
    )
    op.add_column("usage_records", sa.Column("prompt_name", sa.String(length=200), nullable=True))
    op.add_column("usage_records", sa.Column("prompt_version", sa.Integer(), nullable=True))
    op.add_column("usage_records", sa.Column("prompt_experiment_id", sa.UUID(), nullable=True))
    op.create_index(
        "ix_usage_records_prompt_experiment",
        "usage_records",
        ["prompt_experiment_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("prompt_experiment_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_usage_records_prompt_experiment",
        table_name="usage_records",
        postgresql_where=sa.text("prompt_experiment_id IS NOT NULL"),
    )
    op.drop_column("usage_records", "prompt_experiment_id")
    op.drop_column("usage_records", "prompt_version")
    op.drop_column("usage_records", "prompt_name")
    op.drop_table("prompt_versions")
    op.drop_table("prompt_labels")
    op.drop_index("ix_prompt_label_moves_prompt_id_created_at", table_name="prompt_label_moves")
    op.drop_table("prompt_label_moves")
    op.drop_index(
        "uq_prompt_experiments_running_label",
        table_name="prompt_experiments",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_table("prompt_experiments")
    op.drop_table("request_feedback")
    op.drop_index("uq_prompts_lower_name", table_name="prompts")
    op.drop_index("ix_prompts_team_id", table_name="prompts")
    op.drop_index("ix_prompts_tags", table_name="prompts", postgresql_using="gin")
    op.drop_index("ix_prompts_created_at_id", table_name="prompts")
    op.drop_table("prompts")
