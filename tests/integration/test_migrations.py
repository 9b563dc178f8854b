"""A fresh database migrated to head matches the SQLAlchemy models: no pending autogenerate diff."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url

import axops.auth.models  # noqa: F401
from axops import bootstrap
from axops.core.db import Base, async_url, libpq_url
from axops.migrations import runner
from axops.migrations.runner import include_object


def test_head_matches_models(database_url):
    url = "postgresql+psycopg://" + async_url(database_url)[len("postgresql+asyncpg://") :]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_object": include_object, "compare_type": True, "target_metadata": Base.metadata}
            )
            assert ctx.get_current_revision() == runner.head_revision()
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree; run alembic autogenerate: {diff}"


def test_replicas_starting_together_migrate_and_seed_once(server_url, settings):
    """Two processes running `axops up`'s start-up at the same moment on an empty database: one waits
    for the other's advisory lock, then finds the schema at head and the admin already there."""
    name = f"axops_race_{uuid.uuid4().hex[:8]}"
    admin_url = libpq_url(server_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    db_url = url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with ThreadPoolExecutor(2) as pool:
            generated = list(pool.map(lambda _: bootstrap.migrate(db_url, settings), range(2)))
        with psycopg.connect(libpq_url(db_url)) as conn:
            admins = conn.execute("SELECT count(*) FROM users WHERE username = 'admin'").fetchone()[0]
            teams = conn.execute("SELECT count(*) FROM teams").fetchone()[0]
        assert admins == 1 and teams == 1
        assert sum(p is not None for p in generated) <= 1  # a generated password is announced once at most
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
