"""Run Alembic programmatically (used by `axops migrate`, `axops up` and the tests)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

from axops.core.db import async_url

HERE = Path(__file__).resolve().parent
MIGRATION_LOCK = 0x6178_6D69_6772  # pg advisory lock key: one process migrates and seeds at a time


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    # Tables we don't model: the task queue's (procrastinate) and monthly partitions (made at run time).
    unmodelled = name.startswith("procrastinate_") or re.search(r"_y\d{4}m\d{2}$", name) is not None
    if type_ == "index" and reflected and compare_to is None and name.endswith("_trgm"):
        return False  # trigram indexes exist only where pg_trgm does (migration 0025): not in the models
    return not (type_ == "table" and reflected and compare_to is None and unmodelled)


def _sync_url(database_url: str) -> str:
    return "postgresql+psycopg://" + async_url(database_url)[len("postgresql+asyncpg://") :]


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", _sync_url(database_url).replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """Held while a process migrates and seeds: replicas that start together (or beside the
    migrations Job) take turns, and the later ones find the schema at head and the seed data there."""
    engine = create_engine(_sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://unused/unused")).get_current_head()
