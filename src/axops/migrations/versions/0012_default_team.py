"""A default team, so a fresh install works on first use (issue 13).

`teams.is_default` marks the team new resources go to when their creator names none and has no
other team; at most one team is the default. The team named "default" becomes it (created when
missing), and every user who belongs to no team joins it.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("teams", sa.Column("is_default", sa.Boolean(), server_default="false", nullable=False))
    op.create_index("uq_teams_is_default", "teams", ["is_default"], unique=True, postgresql_where=sa.text("is_default"))
    op.execute("""
        UPDATE teams SET is_default = true
        WHERE id = (SELECT id FROM teams WHERE lower(name) = 'default' ORDER BY name = 'default' DESC LIMIT 1)
    """)
    op.execute("""
        INSERT INTO teams (id, name, description, is_default)
        SELECT gen_random_uuid(), 'default', 'Everyone not placed in another team', true
        WHERE NOT EXISTS (SELECT 1 FROM teams WHERE is_default)
    """)
    op.execute("""
        INSERT INTO team_members (team_id, user_id)
        SELECT t.id, u.id FROM users u, teams t
        WHERE t.is_default AND NOT EXISTS (SELECT 1 FROM team_members m WHERE m.user_id = u.id)
    """)


def downgrade() -> None:
    op.drop_index("uq_teams_is_default", table_name="teams", postgresql_where=sa.text("is_default"))
    op.drop_column("teams", "is_default")
