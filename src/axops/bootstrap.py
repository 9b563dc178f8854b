"""Bring a database to a runnable state: embedded server if needed, migrations, seed data."""

from __future__ import annotations

import asyncio
import logging

from axops.auth import audit
from axops.auth import service as auth_service
from axops.core.db import Database
from axops.core.embedded import start_embedded_postgres
from axops.gateway import tasks as gateway_tasks
from axops.migrations import runner
from axops.settings import Settings

log = logging.getLogger("axops.bootstrap")


def database_url(settings: Settings):
    """The configured database, or an embedded PostgreSQL in the data dir. Returns (url, server|None)."""
    if settings.database_url:
        return settings.database_url, None
    server, url = start_embedded_postgres(settings.data_dir)
    return url, server


async def seed(url: str, settings: Settings) -> str | None:
    """Roles, audit and usage partitions, the default team and the first admin. Returns a generated admin password, if any."""
    db = Database(url, pool_size=1)
    try:
        await audit.maintain_partitions(db.engine, settings.audit_partitions_ahead, settings.audit_retention_days)
        await gateway_tasks.maintain_usage_partitions(
            db.engine,
            settings.audit_partitions_ahead,
            settings.usage_retention_days,
            settings.request_log_retention_days,
        )
        async with db.sessionmaker() as session:
            await auth_service.seed_roles(session)
            await auth_service.ensure_default_team(session)
            generated = await auth_service.ensure_admin(session, settings.admin_password)
            await session.commit()
        return generated
    finally:
        await db.dispose()


def migrate(url: str, settings: Settings) -> str | None:
    with runner.migration_lock(url):
        runner.upgrade(url)
        return asyncio.run(seed(url, settings))
