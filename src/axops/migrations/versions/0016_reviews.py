"""Human review (issue 16): review queues (from a run's rows or sampled gateway traffic), their items
(frozen payloads; the blind pairwise mapping kept server-side) and one label per item and reviewer.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_queues",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("criteria", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("assignees", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("origin", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint("mode IN ('likert', 'pairwise')", name=op.f("ck_review_queues_mode")),
        sa.CheckConstraint("source IN ('run', 'traffic')", name=op.f("ck_review_queues_source")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_review_queues_status")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_review_queues_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name=op.f("fk_review_queues_run_id_eval_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_review_queues_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queues")),
        sa.UniqueConstraint("team_id", "name", name="uq_review_queues_team_id_name"),
    )
    op.create_index(op.f("ix_review_queues_run_id"), "review_queues", ["run_id"], unique=False)
    op.create_index(op.f("ix_review_queues_team_id"), "review_queues", ["team_id"], unique=False)
    op.create_table(
        "review_items",
        sa.Column("queue_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_ref", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("blind", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["review_queues.id"], name=op.f("fk_review_items_queue_id_review_queues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("queue_id", "position", name="uq_review_items_queue_id_position"),
    )
    op.create_table(
        "review_labels",
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("reviewer_id", sa.UUID(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("choices", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_labels_item_id_review_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_review_labels_reviewer_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_labels")),
        sa.UniqueConstraint("item_id", "reviewer_id", name="uq_review_labels_item_id_reviewer_id"),
    )
    op.create_index(op.f("ix_review_labels_reviewer_id"), "review_labels", ["reviewer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_review_labels_reviewer_id"), table_name="review_labels")
    op.drop_table("review_labels")
    op.drop_table("review_items")
    op.drop_index(op.f("ix_review_queues_team_id"), table_name="review_queues")
    op.drop_index(op.f("ix_review_queues_run_id"), table_name="review_queues")
    op.drop_table("review_queues")
