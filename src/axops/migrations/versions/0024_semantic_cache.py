"""semantic cache (issue 17): a route's semantic cache settings, and room in usage_records.cache for
the semantic cache's outcomes ('semantic', 'semantic_miss').

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gateway_routes", sa.Column("semantic_cache", postgresql.JSONB(), nullable=True))
    # Widening a varchar rewrites nothing (the partitions follow their parent).
    op.alter_column("usage_records", "cache", type_=sa.String(length=16), existing_nullable=False)


def downgrade() -> None:
    op.execute("UPDATE usage_records SET cache = 'hit' WHERE cache = 'semantic'")
    op.execute("UPDATE usage_records SET cache = 'miss' WHERE cache = 'semantic_miss'")
    op.alter_column("usage_records", "cache", type_=sa.String(length=8), existing_nullable=False)
    op.drop_column("gateway_routes", "semantic_cache")
