"""The audit log: written in the caller's transaction, queried with keyset pagination, exported
as CSV, stored in monthly partitions that are created ahead and dropped after the retention."""

from __future__ import annotations

import base64
import csv
import io
import logging
import uuid
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import procrastinate
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from axops.auth.deps import Principal
from axops.auth.models import AuditEvent
from axops.core import context, metrics, partitions
from axops.core.db import fetch_raw
from axops.core.errors import Invalid
from axops.core.ids import uuid7
from axops.core.logging import event
from axops.core.pagination import decode_cursor, page_of
from axops.core.state import task_state
from axops.core.text import csv_cell

log = logging.getLogger("axops.audit")
tasks = procrastinate.Blueprint()


def _event(
    action: str,
    *,
    resource_type: str | None,
    resource_id: Any,
    summary: dict | None,
    team_id: uuid.UUID | None,
    outcome: str,
    actor_name: str | None,
    actor: Principal | None = None,
) -> AuditEvent:
    ctx = context.current()
    metrics.AUDIT_EVENTS.labels(action).inc()
    if actor is not None:
        system = actor.auth == "system"
        actor_id = None if system else actor.user_id
        actor_name, actor_type = actor.username, "system" if system else "apikey" if actor.auth == "apikey" else "user"
    else:
        actor_id = uuid.UUID(ctx.actor_id) if ctx.actor_id else None
        actor_type = ctx.actor_type
    return AuditEvent(
        id=uuid7(),
        created_at=datetime.now(UTC),
        actor_id=actor_id,
        actor_name=(actor_name or ctx.actor_name or "anonymous")[:100],
        actor_type=actor_type,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        team_id=team_id,
        summary=summary or {},
        request_id=ctx.request_id,
        client_ip=ctx.client_ip,
        outcome=outcome,
    )


def record(
    session: AsyncSession,
    action: str,
    *,
    resource_type: str | None = None,
    resource_id: Any = None,
    summary: dict | None = None,
    team_id: uuid.UUID | None = None,
    outcome: str = "success",
    actor_name: str | None = None,
    actor: Principal | None = None,
) -> None:
    """Add an audit event to the caller's transaction: it lands if and only if the change does.
    The actor is the request's caller unless `actor` names another (`actor=SYSTEM` for the system)."""
    session.add(
        _event(
            action,
            resource_type=resource_type,
            resource_id=resource_id,
            summary=summary,
            team_id=team_id,
            outcome=outcome,
            actor_name=actor_name,
            actor=actor,
        )
    )


async def record_now(sessionmaker: async_sessionmaker, action: str, **kwargs: Any) -> None:
    """Write an event in its own transaction, for outcomes whose request fails (a failed login)."""
    async with sessionmaker() as session:
        record(session, action, **kwargs)
        await session.commit()


def diff(before: dict, after: dict) -> dict:
    """Summary of a change: only the fields that changed, as {field: [old, new]}."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


@dataclass
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_LIST_COLUMNS = (
    "id, created_at, actor_id, actor_name, actor_type, action, resource_type, resource_id, team_id, "
    "summary, request_id, client_ip AS ip, outcome"
)


# The orders the list can be read in: the column (NULL-free expression) the keyset runs over, then
# (created_at, id) break ties. Each has an index starting with that column and ending in created_at.
SORTS: dict[str, str | None] = {
    "created_at": None,
    "actor_name": "actor_name",
    "action": "action",
    "resource_type": "COALESCE(resource_type, '')",
    "outcome": "outcome",
}


@dataclass
class AuditSort:
    key: str = "created_at"
    descending: bool = True


def _sort_cursor(sort: AuditSort, value: Any, created_at: datetime, id_: uuid.UUID) -> str:
    raw = orjson.dumps([sort.key, sort.descending, value, created_at.isoformat(), str(id_)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_sort_cursor(sort: AuditSort, cursor: str) -> tuple[Any, datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, descending, value, created, id_ = orjson.loads(raw)
        if key != sort.key or descending != sort.descending:
            raise ValueError("cursor of another order")
        return value, datetime.fromisoformat(created), uuid.UUID(id_)
    except Exception as exc:
        raise Invalid("The cursor is malformed or was made for another order; start again without it.") from exc


def _where(principal: Principal, f: AuditFilter, cursor: str | None, sort: AuditSort | None = None) -> tuple[str, list]:
    """The WHERE clause, with every value a bound parameter."""
    sort = sort or AuditSort()
    clauses: list[str] = []
    params: list = []

    def add(sql: str, *values) -> None:
        params.extend(values)
        n = len(params)
        clauses.append(sql.format(*[f"${n - len(values) + i + 1}" for i in range(len(values))]))

    if not principal.is_admin:
        # Outside Admin, the log shows one's own actions and events of one's teams.
        add("(actor_id = {0} OR team_id = ANY({1}::uuid[]))", principal.user_id, list(principal.team_ids))
    if f.actor:
        add("actor_name = {0}", f.actor)
    if f.action:
        if f.action.endswith("."):  # "apikey." matches every action of that family
            escaped = f.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            add("action LIKE {0}", escaped + "%")
        else:
            add("action = {0}", f.action)
    if f.resource_type:
        add("resource_type = {0}", f.resource_type)
    if f.resource_id:
        add("resource_id = {0}", f.resource_id)
    if f.since:
        add("created_at >= {0}", f.since)
    if f.until:
        add("created_at < {0}", f.until)
    if cursor:
        op = "<" if sort.descending else ">"
        column = SORTS[sort.key]
        if column is None:
            created, id_ = decode_cursor(cursor)
            add(f"(created_at, id) {op} ({{0}}, {{1}})", created, id_)
        else:
            value, created, id_ = _decode_sort_cursor(sort, cursor)
            if not isinstance(value, str):
                raise Invalid("The cursor is malformed; start again without it.")
            add(f"({column}, created_at, id) {op} ({{0}}, {{1}}, {{2}})", value, created, id_)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def list_events(
    session: AsyncSession,
    principal: Principal,
    f: AuditFilter,
    cursor: str | None,
    limit: int,
    sort: AuditSort | None = None,
) -> tuple[list[dict], str | None]:
    """A page of events, newest first unless `sort` says otherwise, as plain dicts. Hand-written SQL
    through asyncpg: this list is read far more often than anything else here, and ORM result
    processing tripled its cost."""
    sort = sort or AuditSort()
    where, params = _where(principal, f, cursor, sort)
    direction = "DESC" if sort.descending else "ASC"
    column = SORTS[sort.key]
    order = f"{column} {direction}, " if column else ""
    sql = (
        f"SELECT {_LIST_COLUMNS}{f', {column} AS sort_value' if column else ''} FROM audit_events{where} "
        f"ORDER BY {order}created_at {direction}, id {direction} LIMIT {int(limit) + 1}"
    )
    rows = [dict(r) for r in await fetch_raw(session, sql, *params)]
    if column is None:
        return page_of(rows, limit, key=lambda r: (r["created_at"], r["id"]))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _sort_cursor(sort, last["sort_value"], last["created_at"], last["id"])
    for r in rows:
        del r["sort_value"]
    return rows, next_cursor


def _zone(tz: str) -> str:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"Unknown time zone {tz[:64]!r}: use an IANA name such as 'Asia/Seoul' or 'UTC'.") from exc
    return tz


async def count_per_day(session: AsyncSession, principal: Principal, f: AuditFilter, tz: str = "UTC") -> list[dict]:
    """Events per calendar day in time zone `tz`, oldest first, over every event the filter and the
    caller's scope match (not one page): one GROUP BY served by the same indexes as the list."""
    where, params = _where(principal, f, None)
    params.append(_zone(tz))
    day = f"(created_at AT TIME ZONE ${len(params)})::date"
    sql = f"SELECT {day} AS day, count(*)::int AS count FROM audit_events{where} GROUP BY 1 ORDER BY 1"
    try:
        return [dict(r) for r in await fetch_raw(session, sql, *params)]
    except Exception as exc:  # PostgreSQL's zone database lacks a name Python's has
        if "time zone" in str(exc):
            raise Invalid(f"Unknown time zone {tz[:64]!r}.") from exc
        raise


CSV_COLUMNS = [
    "created_at",
    "actor_name",
    "actor_type",
    "action",
    "resource_type",
    "resource_id",
    "team_id",
    "outcome",
    "client_ip",
    "request_id",
    "summary",
]


async def export_csv(
    sessionmaker: async_sessionmaker, principal: Principal, f: AuditFilter, batch: int = 2000
) -> AsyncIterator[bytes]:
    """Stream every matching event as CSV, page by page, without holding the result in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel then reads Korean text as UTF-8
    cursor = None
    while True:
        async with sessionmaker() as session:
            rows, cursor = await list_events(session, principal, f, cursor, batch)
        buffer.seek(0)
        buffer.truncate()
        for e in rows:
            values = [e["ip" if c == "client_ip" else c] for c in CSV_COLUMNS[:-1]] + [
                orjson.dumps(e["summary"]).decode()
            ]
            writer.writerow([csv_cell(v) for v in values])
        yield buffer.getvalue().encode()
        if cursor is None:
            return


# --- partitions ---------------------------------------------------------------------------


def partition_name(month: date) -> str:
    return partitions.partition_name("audit_events", month)


async def ensure_partitions(conn: AsyncConnection, months_ahead: int, today: date | None = None) -> list[str]:
    return await partitions.ensure(conn, "audit_events", months_ahead, today)


async def drop_expired_partitions(conn: AsyncConnection, retention_days: int, today: date | None = None) -> list[str]:
    return await partitions.drop_expired(conn, "audit_events", retention_days, today)


async def maintain_partitions(engine, months_ahead: int, retention_days: int) -> None:
    async with engine.begin() as conn:
        created = await ensure_partitions(conn, months_ahead)
        dropped = await drop_expired_partitions(conn, retention_days)
    if created or dropped:
        event(log, "audit.partitions_maintained", created=created, dropped=dropped)


@tasks.periodic(cron="17 3 * * *", periodic_id="audit-partitions")
@tasks.task(name="maintain_audit_partitions", pass_context=True, queueing_lock="audit-partitions")
async def maintain_audit_partitions_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    await maintain_partitions(
        state.db.engine, state.settings.audit_partitions_ahead, state.settings.audit_retention_days
    )
