"""Security review (issue 12): the registry and datasets (names unique per team).

A model's or dataset's name is unique within its team, no longer across the installation: a
global constraint answered "exists" for another team's private resources.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_registered_models_name", "registered_models", type_="unique")
    op.create_unique_constraint("uq_registered_models_team_id_name", "registered_models", ["team_id", "name"])
    op.drop_constraint("uq_datasets_name", "datasets", type_="unique")
    op.create_unique_constraint("uq_datasets_team_id_name", "datasets", ["team_id", "name"])


def downgrade() -> None:
    # Fails when two teams now hold the same name: rename one first.
    op.drop_constraint("uq_datasets_team_id_name", "datasets", type_="unique")
    op.create_unique_constraint("uq_datasets_name", "datasets", ["name"])
    op.drop_constraint("uq_registered_models_team_id_name", "registered_models", type_="unique")
    op.create_unique_constraint("uq_registered_models_name", "registered_models", ["name"])
