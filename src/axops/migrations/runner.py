"""Run Alembic programmatically (used by `axops migrate`, `axops up` and the tests)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config

from axops.core.db import async_url

HERE = Path(__file__).resolve().parent


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    # Tables we don't model: the task queue's (procrastinate) and monthly partitions (made at run time).
    unmodelled = name.startswith("procrastinate_") or re.search(r"_y\d{4}m\d{2}$", name) is not None
    if type_ == "index" and reflected and compare_to is None and name.endswith("_trgm"):
        return False  # trigram indexes exist only where pg_trgm does (migration 0025): not in the models
    return not (type_ == "table" and reflected and compare_to is None and unmodelled)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    sync_url = "postgresql+psycopg://" + async_url(database_url)[len("postgresql+asyncpg://") :]
    cfg.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://unused/unused")).get_current_head()
