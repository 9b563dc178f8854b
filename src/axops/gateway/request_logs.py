"""The request log: every gateway request (its usage record: status, upstream, attempts, latency,
tokens, cost) newest first, with the PII-masked request and answer text when the calling key logs
content (usage_writer.py masks it before storage; nothing here ever sees unmasked text).

Scoping as for usage: gateway admins see every request, everyone else their own only; asking for
another user's requests without gateway:admin is refused, not silently narrowed.

`q` searches the stored (masked) request and answer text as a case-insensitive substring (ILIKE),
which works for Korean without a tokenizer; where the database has pg_trgm, migration 0025 adds a
trigram GIN index on that text (patterns of 3+ characters use it). A search is bounded: 2-200
characters, a time range (default the last 7 days, at most the 90 days logs are kept) and the page
limit. Logs older than the retention are removed by `expire` (whole partitions, then a DELETE of the
boundary month)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Forbidden, Invalid
from axops.core.pagination import decode_cursor, page_of

COUNT_CAP = 10_000  # totals are exact up to here; past it the page says "more than"
SEARCH_MIN, SEARCH_MAX = 2, 200
SEARCH_DEFAULT_SPAN = timedelta(days=7)
SEARCH_MAX_SPAN = timedelta(days=92)
# The searched text: one expression, the same as the trigram index's (migration 0025).
SEARCH_TEXT = "(l.request || E'\\n' || l.response)"

# A content log is written by the same call as its usage record, a moment apart: it is found by
# its key (indexed with the time) within a short window, then by request id.
_CONTENT = """LEFT JOIN LATERAL (
    SELECT l.request, l.response FROM gateway_request_logs l
    WHERE u.api_key_id IS NOT NULL AND l.api_key_id = u.api_key_id AND l.request_id = u.request_id
      AND l.created_at BETWEEN u.created_at - interval '10 minutes' AND u.created_at + interval '10 minutes'
    LIMIT 1) c ON TRUE"""

_COLUMNS = """u.id, u.created_at, u.request_id, u.api_key_id, k.name AS api_key_name, k.prefix AS api_key_prefix,
    u.user_id, us.username, u.endpoint, u.model, u.upstream, u.stream, u.status, u.error, u.prompt_tokens,
    u.completion_tokens, u.cost, u.latency_ms, u.ttft_ms, u.attempts, u.cache, u.prompt_name, u.prompt_version,
    c.request, c.response"""

_FROM = (
    "FROM usage_records u LEFT JOIN users us ON us.id = u.user_id LEFT JOIN api_keys k ON k.id = u.api_key_id "
    + _CONTENT
)


def _filters(
    principal: Principal,
    *,
    model: str | None,
    upstream: str | None,
    api_key_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    outcome: str | None,
    status: int | None,
    since: datetime | None,
    until: datetime | None,
    content: bool | None,
    q: str | None = None,
) -> tuple[list[str], dict]:
    if q is not None:
        since, until = _search_range(since, until)
    if since is not None and until is not None and since >= until:
        raise Invalid("`since` must be before `until`.")
    if user_id is not None and user_id != principal.user_id and not principal.can("gateway:admin"):
        raise Forbidden("Only gateway admins can read other users' requests.")
    where, params = ["TRUE"], {}
    if not principal.can("gateway:admin"):
        where.append("u.user_id = :me")
        params["me"] = principal.user_id
    for column, value in (("model", model), ("upstream", upstream), ("api_key_id", api_key_id), ("user_id", user_id)):
        if value is not None:
            where.append(f"u.{column} = :{column}")
            params[column] = value
    if outcome == "error":
        where.append("u.status >= 400")
    elif outcome == "ok":
        where.append("u.status < 400")
    if status is not None:
        where.append("u.status = :status")
        params["status"] = status
    if since is not None:
        where.append("u.created_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("u.created_at < :until")
        params["until"] = until
    if q is not None:
        q = q.strip()
        if not SEARCH_MIN <= len(q) <= SEARCH_MAX:
            raise Invalid(
                f"Search text must be {SEARCH_MIN} to {SEARCH_MAX} characters.",
                code="request_log_search_length",
                min=SEARCH_MIN,
                max=SEARCH_MAX,
            )
        # the logs whose text matches, found through their own table (and its trigram index)
        where.append(f"""(u.api_key_id, u.request_id) IN (
            SELECT l.api_key_id, l.request_id FROM gateway_request_logs l
            WHERE l.created_at >= :q_since AND l.created_at < :q_until AND {SEARCH_TEXT} ILIKE :q ESCAPE '\\')""")
        params["q"] = "%" + like_escape(q) + "%"
        params["q_since"], params["q_until"] = since - timedelta(minutes=10), until + timedelta(minutes=10)
    if content is True:
        where.append("c.request IS NOT NULL")
    elif content is False:
        where.append("c.request IS NULL")
    return where, params


def like_escape(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    since = since or until - SEARCH_DEFAULT_SPAN
    if until - since > SEARCH_MAX_SPAN:
        raise Invalid(
            "A search covers at most 92 days: narrow `since` and `until`.",
            code="request_log_search_range",
            max_days=SEARCH_MAX_SPAN.days,
        )
    return since, until


async def expire(conn, retention_days: int, now: datetime | None = None) -> int:
    """Delete the content logs older than the retention that partition drops left behind (the rows of
    the boundary month); returns how many. Partitions wholly past it are dropped by the caller first."""
    before = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    result = await conn.execute(text("DELETE FROM gateway_request_logs WHERE created_at < :before"), {"before": before})
    return result.rowcount


async def request_logs(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    with_total: bool = True,
    **filters,
) -> dict:
    """One page, newest first, and how many requests match (exact up to COUNT_CAP)."""
    where, params = _filters(principal, **filters)
    total = None
    if with_total and not cursor:
        # Counted on usage_records alone (its indexes) unless the filter is about the logged text.
        source = _FROM if filters.get("content") is not None else "FROM usage_records u"
        counted = f"SELECT 1 {source} WHERE {' AND '.join(where)} LIMIT {COUNT_CAP + 1}"
        total = (await session.execute(text(f"SELECT count(*) FROM ({counted}) s"), params)).scalar_one()
    params["limit"] = limit + 1
    if cursor:
        params["c_at"], params["c_id"] = decode_cursor(cursor)
        where.append("(u.created_at, u.id) < (:c_at, :c_id)")
    rows = (
        (
            await session.execute(
                text(
                    f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(where)} ORDER BY u.created_at DESC, u.id DESC LIMIT :limit"
                ),
                params,
            )
        )
        .mappings()
        .all()
    )
    items = [_item(r) for r in rows]
    items, next_cursor = page_of(items, limit, key=lambda r: (r["created_at"], r["id"]))
    return {
        "items": items,
        "next_cursor": next_cursor,
        "total": None if total is None or total > COUNT_CAP else total,
        "total_at_least": None if total is None or total <= COUNT_CAP else COUNT_CAP,
    }


async def request_log(session: AsyncSession, principal: Principal, log_id: uuid.UUID) -> dict | None:
    """One request by its id, if the caller may see it (else None, as for an unknown id)."""
    where, params = _filters(
        principal,
        model=None,
        upstream=None,
        api_key_id=None,
        user_id=None,
        outcome=None,
        status=None,
        since=None,
        until=None,
        content=None,
        q=None,
    )
    where.append("u.id = :id")
    params["id"] = log_id
    row = (
        (
            await session.execute(
                text(f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(where)}"),
                params,
            )
        )
        .mappings()
        .first()
    )
    return _item(row) if row else None


def _item(r) -> dict:
    return {
        **r,
        "cost": float(r["cost"] or 0),
        "request": orjson.loads(r["request"]) if r["request"] is not None else None,
        "has_content": r["request"] is not None,
    }
