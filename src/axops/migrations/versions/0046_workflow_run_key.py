"""workflow run key: `workflow_runs.api_key_id`, the per-run gateway key, stored when it is issued so the
stale-run sweep can revoke the key of a run whose process died (else it lived until its one-day expiry).

Revision ID: 0046
Revises: 0045
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "workflow_runs",
        sa.Column(
            "api_key_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("api_keys.id", ondelete="SET NULL", name="fk_workflow_runs_api_key_id_api_keys"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("workflow_runs", "api_key_id")
