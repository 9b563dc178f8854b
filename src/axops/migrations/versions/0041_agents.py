"""agents (placeholder: filled by the issue's work).

Revision ID: 0041
Revises: 0040
"""

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
