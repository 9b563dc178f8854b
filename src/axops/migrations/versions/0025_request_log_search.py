"""request log search (issue 17): a trigram index over the masked request and answer text.

pg_trgm splits text into 3-character pieces whatever the script, so ILIKE '%서울에서%' finds Korean
substrings (tokenizing search configurations such as `simple` cannot split Korean particles off).
The extension ships with PostgreSQL's contrib (Debian's postgresql package has it) but not with the
embedded pgserver build: there the index is skipped and searches scan the time range they are
bounded to. Created on the partitioned parent, so every monthly partition gets it.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INDEX = "ix_gateway_request_logs_text_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first()
    if available is None:
        return
    try:
        with bind.begin_nested():  # a role that may not create it: no index, searches still work
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON gateway_request_logs "
        "USING gin ((request || E'\\n' || response) gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
