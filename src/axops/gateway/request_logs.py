"""The request log: every gateway request (its usage record: status, upstream, attempts, latency,
tokens, cost) newest first, with the PII-masked request and answer text when the calling key logs
content (usage_writer.py masks it before storage; nothing here ever sees unmasked text).

Scoping as for usage: gateway admins see every request, everyone else their own only; asking for
another user's requests without gateway:admin is refused, not silently narrowed."""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Forbidden, Invalid
from axops.core.pagination import decode_cursor, page_of

COUNT_CAP = 10_000  # totals are exact up to here; past it the page says "more than"

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
) -> tuple[list[str], dict]:
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
    if content is True:
        where.append("c.request IS NOT NULL")
    elif content is False:
        where.append("c.request IS NULL")
    return where, params


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
