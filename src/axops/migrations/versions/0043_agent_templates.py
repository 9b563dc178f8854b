"""agent_templates: agents a team shares with the installation as templates, and every install of a
template (built-in or shared) for the gallery's counts (issue 21).

Revision ID: 0043
Revises: 0042
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_templates",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("team_id", _UUID, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("source_agent_id", _UUID, sa.ForeignKey("agents.id", ondelete="SET NULL")),
        sa.Column("source_version", sa.Integer()),
        sa.Column("shared_by", _UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_agent_templates_created_at_id", "agent_templates", ["created_at", "id"])
    op.create_table(
        "agent_template_installs",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("template_key", sa.String(64), nullable=False),
        sa.Column("team_id", _UUID, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent_id", _UUID),
        sa.Column("installed_by", _UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_agent_template_installs_template_key", "agent_template_installs", ["template_key"])


def downgrade() -> None:
    op.drop_table("agent_template_installs")
    op.drop_table("agent_templates")
