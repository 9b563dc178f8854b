"""approvals (issue 18).

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
