"""The gateway's usage as metric history: per route (the requested model name) and minute, requests,
errors (status >= 400), server errors (status >= 500), latency p50/p95/p99 (ms), prompt and completion
tokens and cost, read from `usage_records`.

Closed minutes (ended more than GRACE ago) are counted once, after a watermark. The minutes after it
(the open one and those still inside the grace) are written too on every run with what has arrived so
far; the next run's upsert replaces them, so a breach shows within one collection interval (15 s)
while the watermark only ever passes complete minutes."""

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
    "gateway_server_errors",
    "gateway_latency_p50_ms",
    "gateway_latency_p95_ms",
    "gateway_latency_p99_ms",
    "gateway_prompt_tokens",
    "gateway_completion_tokens",
    "gateway_cost",
)

_PER_MINUTE = text("""
SELECT date_trunc('minute', created_at) AS minute, model AS route, count(*) AS requests,
       count(*) FILTER (WHERE status >= 400) AS errors, count(*) FILTER (WHERE status >= 500) AS server_errors,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
       sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cost) AS cost
FROM usage_records WHERE created_at >= :since AND created_at < :until
GROUP BY 1, 2
""")


async def _minutes(session: AsyncSession, since: datetime, until: datetime) -> list[store.Point]:
    points: list[store.Point] = []
    for r in (await session.execute(_PER_MINUTE, {"since": since, "until": until})).mappings():
        labels = {"route": r["route"]}
        values = (
            r["requests"],
            r["errors"],
            r["server_errors"],
            r["p50"],
            r["p95"],
            r["p99"],
            r["prompt_tokens"],
            r["completion_tokens"],
            r["cost"],
        )
        for name, value in zip(SERIES, values, strict=True):
            points.append((name, labels, r["minute"], float(value or 0)))
    return points


async def collect_gateway(session: AsyncSession, now: datetime) -> int:
    """Count the closed minutes since the watermark and move it, then write the partial minutes after
    it; returns the points written. The caller commits (points and watermark together)."""
    closed = store._floor(now - GRACE, 60)
    since = (
        await session.execute(text("SELECT at FROM metric_watermarks WHERE source = :s FOR UPDATE"), {"s": SOURCE})
    ).scalar_one_or_none()
    if since is None:
        since = closed - FIRST_BACKFILL
    until = min(closed, since + MAX_SPAN)
    points: list[store.Point] = []
    if until > since:
        points += await _minutes(session, since, until)
        await session.execute(
            text("""INSERT INTO metric_watermarks (source, at) VALUES (:s, :at)
                    ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at"""),
            {"s": SOURCE, "at": until},
        )
    if until == closed:  # caught up: the minutes still filling, as far as they have arrived
        points += await _minutes(session, closed, now + timedelta(seconds=1))
    await store.write(session, points)
    return len(points)
