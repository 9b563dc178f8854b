"""A fresh database migrated to head matches the SQLAlchemy models: no pending autogenerate diff."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import axops.auth.models  # noqa: F401
from axops.core.db import Base, async_url
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
