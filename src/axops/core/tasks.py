"""Background tasks on a PostgreSQL queue (procrastinate): durable, retried, periodic, no extra server.

Domains declare tasks on a `procrastinate.Blueprint`; the app factory and the worker build one
App over the configured database and add every blueprint to it.
"""

from __future__ import annotations

import procrastinate
from procrastinate.schema import SchemaManager

from axops.core.db import libpq_url


def create_task_app(database_url: str, blueprints: dict[str, procrastinate.Blueprint]) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(database_url)))
    for namespace, blueprint in blueprints.items():
        app.add_tasks_from(blueprint, namespace=namespace)
    return app


def queue_schema_sql() -> str:
    """The queue's tables and functions, applied by our Alembic migration."""
    return SchemaManager.get_schema()
