"""Background tasks on a PostgreSQL queue (procrastinate): durable, retried, periodic, no extra server.

Domains declare tasks on a `procrastinate.Blueprint`; the app factory adds each blueprint to the
one process-wide `app` once, and `configure` points it at the database before it is opened.
"""

from __future__ import annotations

import procrastinate
from procrastinate.schema import SchemaManager

from axops.core.db import libpq_url

app = procrastinate.App(connector=procrastinate.PsycopgConnector())
_registered: set[str] = set()
_configured_url: str | None = None  # the database `app.connector` points at


def register(blueprints: dict[str, procrastinate.Blueprint]) -> None:
    for namespace, blueprint in blueprints.items():
        if namespace not in _registered:
            app.add_tasks_from(blueprint, namespace=namespace)
            _registered.add(namespace)


def configure(database_url: str) -> procrastinate.App:
    global _configured_url
    url = libpq_url(database_url)
    if _configured_url != url:
        connector = procrastinate.PsycopgConnector(conninfo=url)
        app.connector = connector
        app.job_manager.connector = connector
        _configured_url = url
    return app


def queue_schema_sql() -> str:
    """The queue's tables and functions, applied by our Alembic migration."""
    return SchemaManager.get_schema()


def defer_after_commit(session, task_name: str, **kwargs) -> None:
    """Queue a task once the session's transaction has committed (never for a rolled-back one)."""

    async def enqueue() -> None:
        await app.configure_task(task_name).defer_async(**kwargs)

    session.info.setdefault("after_commit", []).append(enqueue)
