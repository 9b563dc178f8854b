"""Monthly range partitions on a timestamp column: created ahead, dropped after a retention.
Partitions are named `<table>_yYYYYmMM`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


async def ensure(conn: AsyncConnection, table: str, months_ahead: int, today: date | None = None) -> list[str]:
    """Create last month's, this month's and `months_ahead` more partitions; returns those created."""
    start = (today or datetime.now(UTC).date()).replace(day=1)
    created = []
    for i in range(-1, months_ahead + 1):
        lo, hi = _add_months(start, i), _add_months(start, i + 1)
        name = partition_name(table, lo)
        if not await conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}):
            await conn.execute(
                text(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" '
                    f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                )
            )
            created.append(name)
    return created


async def drop_expired(conn: AsyncConnection, table: str, retention_days: int, today: date | None = None) -> list[str]:
    """Drop whole partitions whose every row is older than the retention period."""
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
        ),
        {"table": table},
    )
    prefix = f"{table}_y"
    dropped = []
    for (name,) in rows:
        if not name.startswith(prefix):
            continue
        year, month = int(name[len(prefix) : len(prefix) + 4]), int(name[-2:])
        if _add_months(date(year, month, 1), 1) <= cutoff:
            await conn.execute(text(f'DROP TABLE "{name}"'))
            dropped.append(name)
    return dropped
