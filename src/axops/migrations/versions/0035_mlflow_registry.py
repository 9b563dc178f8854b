"""MLflow registry API: tags, MLflow-side fields of models and versions (issue 20).

MLflow's key/value tags on registered models and versions, and a version's MLflow description
(axops versions have a card, not a description).

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("registered_models", "model_versions"):
        op.add_column(table, sa.Column("mlflow_tags", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.add_column("model_versions", sa.Column("mlflow_description", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("model_versions", "mlflow_description")
    for table in ("registered_models", "model_versions"):
        op.drop_column(table, "mlflow_tags")
