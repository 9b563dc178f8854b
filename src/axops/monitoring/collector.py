"""The gateway's usage as metric history: per route (the requested model name) and closed minute,
requests, errors (status >= 400), latency p50/p95 (ms), prompt and completion tokens and cost, read
from `usage_records` after a watermark so each minute is counted once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.monitoring import store

SOURCE = "gateway"
# Usage records are written in batches off the request path: a minute is counted once this much has
# passed since it ended (created_at is the row's insert time).
GRACE = timedelta(seconds=30)
FIRST_BACKFILL = timedelta(hours=1)  # a new installation starts with the last hour
MAX_SPAN = timedelta(hours=24)  # at most this much is counted per run (a long outage catches up run by run)

SERIES = (
    "gateway_requests",
    "gateway_errors",
    "gateway_latency_p50_ms",
    "gateway_latency_p95_ms",
    "gateway_prompt_tokens",
    "gateway_completion_tokens",
    "gateway_cost",
)

_PER_MINUTE = text("""
SELECT date_trunc('minute', created_at) AS minute, model AS route, count(*) AS requests,
       count(*) FILTER (WHERE status >= 400) AS errors,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
       sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cost) AS cost
FROM usage_records WHERE created_at >= :since AND created_at < :until
GROUP BY 1, 2
""")


async def collect_gateway(session: AsyncSession, now: datetime) -> int:
    """Count the closed minutes since the watermark and move it; returns the points written. The
    caller commits (points and watermark together)."""
    until = store._floor(now - GRACE, 60)
    since = (
        await session.execute(text("SELECT at FROM metric_watermarks WHERE source = :s FOR UPDATE"), {"s": SOURCE})
    ).scalar_one_or_none()
    if since is None:
        since = until - FIRST_BACKFILL
    until = min(until, since + MAX_SPAN)
    if until <= since:
        return 0
    points: list[store.Point] = []
    for r in (await session.execute(_PER_MINUTE, {"since": since, "until": until})).mappings():
        labels = {"route": r["route"]}
        for name, value in zip(
            SERIES,
            (r["requests"], r["errors"], r["p50"], r["p95"], r["prompt_tokens"], r["completion_tokens"], r["cost"]),
            strict=True,
        ):
            points.append((name, labels, r["minute"], float(value or 0)))
    await store.write(session, points)
    await session.execute(
        text("""INSERT INTO metric_watermarks (source, at) VALUES (:s, :at)
                ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at"""),
        {"s": SOURCE, "at": until},
    )
    return len(points)
