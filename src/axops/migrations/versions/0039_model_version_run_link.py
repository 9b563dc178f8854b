"""the MLflow run_link of a model version; the points of MLflow 3 metric links (issue 20).

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
    # Each (run, key, model, dataset) link gets an id, and the points logged with it are kept under that id
    # (MLflow's logged_model_metrics): a logged model's metrics are exactly the points logged for it.
    # run_metrics is not touched: unlinked points (most of them) cost nothing more.
    op.add_column("run_metric_links", sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False))
    op.create_unique_constraint("uq_run_metric_links_id", "run_metric_links", ["id"])
    op.create_index("ix_run_metric_links_model_id", "run_metric_links", ["model_id"])
    op.create_table(
        "run_metric_link_points",
        sa.Column(
            "link_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "run_metric_links.id", ondelete="CASCADE", name="fk_run_metric_link_points_link_id_run_metric_links"
            ),
            primary_key=True,
        ),
        sa.Column("step", sa.BigInteger(), primary_key=True),
        sa.Column("timestamp", sa.BigInteger(), primary_key=True),
        sa.Column("value", sa.Float(), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("run_metric_link_points")
    op.drop_index("ix_run_metric_links_model_id", table_name="run_metric_links")
    op.drop_constraint("uq_run_metric_links_id", "run_metric_links")
    op.drop_column("run_metric_links", "id")
    op.drop_column("model_versions", "mlflow_run_link")
