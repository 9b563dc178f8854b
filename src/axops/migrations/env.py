"""Alembic environment. Migrations run synchronously over psycopg (safe inside or outside an event loop)."""

from alembic import context
from sqlalchemy import create_engine, pool

import axops.auth.models  # noqa: F401  (registers tables on the metadata)
from axops.core.db import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # Tables we don't model: the task queue's (procrastinate) and audit partitions (made at run time).
    if type_ == "table" and reflected and compare_to is None:
        if name.startswith("procrastinate_") or name.startswith("audit_events_y"):
            return False
    return True


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
