"""Run Alembic programmatically (used by `axops migrate`, `axops up` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from axops.core.db import async_url

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    sync_url = "postgresql+psycopg://" + async_url(database_url)[len("postgresql+asyncpg://") :]
    cfg.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
