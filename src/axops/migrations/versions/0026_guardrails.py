"""guardrails (issue 18): guardrail policies and the decisions they made.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardrail_policies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("target_id", UUID(as_uuid=True)),
        sa.Column("direction", sa.String(8), nullable=False, server_default="both"),
        sa.Column("checks", JSONB, nullable=False, server_default="{}"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("scope IN ('global', 'route', 'team', 'key')", name="ck_guardrail_policies_scope"),
        sa.CheckConstraint("direction IN ('input', 'output', 'both')", name="ck_guardrail_policies_direction"),
        sa.CheckConstraint("(scope = 'global') = (target_id IS NULL)", name="ck_guardrail_policies_target"),
    )
    op.create_table(
        "guardrail_decisions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("request_id", sa.String(64)),
        sa.Column("policy_id", UUID(as_uuid=True)),
        sa.Column("policy_name", sa.String(100), nullable=False),
        sa.Column("check", sa.String(32), nullable=False),
        sa.Column("kinds", sa.String(200), nullable=False, server_default=""),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("excerpt", sa.Text, nullable=False, server_default=""),
        sa.Column("route", sa.String(200)),
        sa.Column("api_key_id", UUID(as_uuid=True)),
        sa.Column("user_id", UUID(as_uuid=True)),
        sa.Column("team_id", UUID(as_uuid=True)),
    )
    op.create_index("ix_guardrail_decisions_created_at", "guardrail_decisions", ["created_at"])


def downgrade() -> None:
    op.drop_table("guardrail_decisions")
    op.drop_table("guardrail_policies")
