"""Database engine, session and declarative base. PostgreSQL only (asyncpg)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from axops.core.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def async_url(url: str) -> str:
    """Accept plain postgresql:// URLs (as pgserver and most tools print them) and pick asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("database URL must be a postgresql:// URL")


def libpq_url(url: str) -> str:
    """The same database as a libpq URL (psycopg, psql, procrastinate)."""
    return "postgresql://" + async_url(url)[len("postgresql+asyncpg://") :]


async def fetch_raw(session: AsyncSession, sql: str, *params) -> list:
    """Run hand-written SQL ($1, $2 ... placeholders) on the session's connection, in its transaction,
    straight through asyncpg: for hot read paths where SQLAlchemy's result processing dominates."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's Connection
    return await driver.fetch(sql, *params)


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = async_url(url)
        # A fixed pool (no overflow): under bursts requests queue briefly for a connection instead
        # of opening and closing extra ones, which costs far more than the wait.
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=30,
            json_serializer=lambda v: orjson.dumps(v).decode(),
            json_deserializer=orjson.loads,
            # UTC sessions: timestamps that PostgreSQL renders itself (to_json) read as +00:00.
            connect_args={"server_settings": {"timezone": "UTC"}},
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction per request: commit on success, roll back on any error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                session.info.pop("after_commit", None)
                raise
            for hook in session.info.pop("after_commit", ()):
                result = hook()
                if inspect.isawaitable(result):
                    await result

    async def fetch(self, sql: str, *params) -> list[dict]:
        """One hand-written read ($1, $2 ... placeholders) on a pooled connection, outside any
        transaction (no BEGIN/COMMIT round trips), rows as dicts: for the hottest list reads."""
        async with self.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's Connection
            rows = await raw.fetch(sql, *params)
        if not rows:
            return []
        keys = list(rows[0].keys())
        return [dict(zip(keys, row, strict=True)) for row in rows]  # far cheaper than dict(record)

    async def dispose(self) -> None:
        await self.engine.dispose()
