"""Alembic environment. Migrations run synchronously over psycopg (safe inside or outside an event loop)."""

from alembic import context
from sqlalchemy import create_engine, pool

import axops.agents.models
import axops.agents.template_models
import axops.agents.workflow_models
import axops.auth.models
import axops.datasets.models
import axops.evaluation.models
import axops.evaluation.monitoring_models
import axops.evaluation.review_models
import axops.experiments.models
import axops.gateway.models
import axops.governance.approval_models
import axops.governance.report_models
import axops.governance.violation_models
import axops.guardrails.models
import axops.mlflow_models.input_models
import axops.mlflow_models.logged_model_models
import axops.monitoring.alert_models
import axops.monitoring.channel_models
import axops.monitoring.cost_models
import axops.monitoring.drift_models
import axops.monitoring.models
import axops.monitoring.slo_models
import axops.policy.models
import axops.prompts.models
import axops.registry.models
import axops.serving.models
import axops.tools.models
import axops.training.models  # noqa: F401
from axops.core.db import Base
from axops.migrations.runner import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
