"""the MLflow run_link of a model version (issue 20).

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing.
    op.add_column("model_versions", sa.Column("mlflow_run_link", sa.String(500), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "mlflow_run_link")
