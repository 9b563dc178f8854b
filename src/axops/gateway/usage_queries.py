"""The SQL that reads the gateway's usage records back (usage_writer.py writes them): usage
aggregates — requests, errors, tokens, cost, latency percentiles and cache hits per time bucket and
group —, the last hours per hour, and a model's live per-minute series. The request log (one row per
request, with its masked text) is request_logs.py. Callers without `gateway:admin` see their own
usage only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Forbidden, Invalid

GROUPS = {
    "model": "u.model",
    "upstream": "coalesce(u.upstream, '—')",
    "user": "coalesce(us.username, '—')",
    "team": "coalesce(t.name, '—')",
    "api_key": "coalesce(k.name || ' (' || k.prefix || ')', 'session')",
}
BUCKETS = ("hour", "day")
MAX_BUCKETS = 24 * 92

_AGGREGATES = """count(*) AS requests, count(*) FILTER (WHERE u.status >= 400) AS errors,
    coalesce(sum(u.prompt_tokens), 0) AS prompt_tokens, coalesce(sum(u.completion_tokens), 0) AS completion_tokens,
    coalesce(sum(u.cost), 0) AS cost,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) AS p95_ms,
    count(*) FILTER (WHERE u.cache = 'hit') AS cache_hits"""


async def usage(
    session: AsyncSession,
    principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    bucket: str,
    group_by: str,
    model: str | None = None,
    user_id: uuid.UUID | None = None,
    own_teams: bool = False,
) -> dict:
    """`own_teams`: a caller without `gateway:admin` sees the records of their teams and their own
    (the cost pages) instead of their own only."""
    if group_by not in GROUPS or bucket not in BUCKETS:
        raise Invalid(f"group_by is one of {', '.join(GROUPS)}; bucket is hour or day.")
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=1)
    if since >= until:
        raise Invalid("`since` must be before `until`.")
    if (until - since) / timedelta(hours=1 if bucket == "hour" else 24) > MAX_BUCKETS:
        raise Invalid(f"That window has more than {MAX_BUCKETS} {bucket}s; use a larger bucket or a shorter window.")
    if user_id is not None and user_id != principal.user_id and not principal.can("gateway:admin"):
        raise Forbidden("Only gateway admins can read other users' usage.")
    where = ["u.created_at >= :since", "u.created_at < :until"]
    params: dict = {"since": since, "until": until, "bucket": bucket}
    if not principal.can("gateway:admin"):
        if own_teams:
            where.append("(u.team_id = ANY(:scope_teams) OR u.user_id = :scope_me)")
            params.update(scope_teams=list(principal.team_ids), scope_me=principal.user_id)
        else:
            user_id = principal.user_id
    if model:
        where.append("u.model = :model")
        params["model"] = model
    if user_id:
        where.append("u.user_id = :user_id")
        params["user_id"] = user_id
    joins = (
        "LEFT JOIN users us ON us.id = u.user_id LEFT JOIN teams t ON t.id = u.team_id "
        "LEFT JOIN api_keys k ON k.id = u.api_key_id"
    )
    group = GROUPS[group_by]
    base = f"FROM usage_records u {joins} WHERE {' AND '.join(where)}"
    series = await session.execute(
        text(
            f"SELECT date_trunc(:bucket, u.created_at) AS ts, {group} AS grp, {_AGGREGATES} {base} GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        params,
    )
    totals = await session.execute(
        text(f"SELECT {group} AS grp, {_AGGREGATES} {base} GROUP BY 1 ORDER BY requests DESC"), params
    )

    def row(r) -> dict:
        out = {
            "group": r.grp,
            "requests": r.requests,
            "errors": r.errors,
            "prompt_tokens": int(r.prompt_tokens),
            "completion_tokens": int(r.completion_tokens),
            "cost": float(r.cost),
            "p50_ms": r.p50_ms,
            "p95_ms": r.p95_ms,
            "cache_hits": r.cache_hits,
        }
        if hasattr(r, "ts"):
            out["ts"] = r.ts
        return out

    return {
        "bucket": bucket,
        "group_by": group_by,
        "since": since,
        "until": until,
        "series": [row(r) for r in series],
        "totals": [row(r) for r in totals],
    }


async def live_series(
    session: AsyncSession, model: str, minutes: int, upstream_prefix: str | None = None
) -> list[dict]:
    """One model's traffic per minute over the last `minutes` (for a deployment's live charts):
    requests, server errors, latency p50/p95, time to first token, completion tokens."""
    where = "u.model = :model AND u.created_at >= now() - make_interval(mins => :minutes)"
    params: dict = {"model": model, "minutes": minutes}
    if upstream_prefix:
        where += " AND u.upstream LIKE :prefix"
        params["prefix"] = upstream_prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    rows = await session.execute(
        text(f"""
        SELECT date_trunc('minute', u.created_at) AS minute, count(*) AS requests,
               count(*) FILTER (WHERE u.status >= 500) AS errors,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) AS p50_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) AS p95_ms,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY u.ttft_ms) AS ttft_p50_ms,
               coalesce(sum(u.completion_tokens), 0) AS completion_tokens
        FROM usage_records u WHERE {where} GROUP BY 1 ORDER BY 1"""),
        params,
    )
    return [
        {
            "minute": r.minute,
            "requests": r.requests,
            "errors": r.errors,
            "p50_ms": r.p50_ms,
            "p95_ms": r.p95_ms,
            "ttft_p50_ms": r.ttft_p50_ms,
            "completion_tokens": int(r.completion_tokens),
        }
        for r in rows
    ]


async def hourly(session: AsyncSession, principal: Principal, hours: int = 24) -> dict:
    """The last `hours` hours (the current one included) per hour and in total: requests, errors,
    p95 latency and cost — every caller's for gateway admins, else the caller's own, as `usage` reads.
    Lean on purpose: the columns it reads are in `ix_usage_records_created_at` (an index-only scan
    over a day of a busy gateway) and, for one user, `ix_usage_records_user_created_at` finds the rows."""
    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = until - timedelta(hours=hours)
    params = {"since": since, "until": until}
    own = not principal.can("gateway:admin")
    if own:
        params["me"] = principal.user_id
    rows = await session.execute(text(hourly_sql(own)), params)
    by_hour, total = {}, None
    for r in rows:
        figures = {"requests": r.requests, "errors": r.errors, "cost": float(r.cost), "p95_ms": r.p95_ms}
        if r.ts is None:
            total = figures
        else:
            by_hour[r.ts] = figures
    empty = {"requests": 0, "errors": 0, "cost": 0.0, "p95_ms": None}
    series = [
        {"ts": since + timedelta(hours=i), **by_hour.get(since + timedelta(hours=i), empty)} for i in range(hours)
    ]
    return {
        "since": since,
        "until": until,
        "scope": "all" if principal.can("gateway:admin") else "own",
        "totals": total or empty,
        "series": series,
    }


def hourly_sql(own: bool) -> str:
    """`hourly`'s query (:since, :until, and :me when `own`); bench/ui explains it over 1M records."""
    where = "u.created_at >= :since AND u.created_at < :until" + (" AND u.user_id = :me" if own else "")
    return f"""
        SELECT date_trunc('hour', u.created_at) AS ts, count(*) AS requests,
               count(*) FILTER (WHERE u.status >= 400) AS errors, coalesce(sum(u.cost), 0) AS cost,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) AS p95_ms
        FROM usage_records u WHERE {where} GROUP BY GROUPING SETS ((1), ()) ORDER BY 1 NULLS FIRST"""
