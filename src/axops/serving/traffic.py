"""The deployments list's traffic column: each deployment's requests and p95 latency over the last hour.

One grouped query over the gateway's usage records for the whole list (not one per row). A replica is
the gateway upstream `dep-<first 12 hex of the deployment id>-r<index>` (routing.py), so grouping by
that prefix counts a stable deployment and its canary apart. Read-only SQL over `usage_records`, like
`gateway.usage_queries.live_series` (which the deployment page's charts use); it could move there.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WINDOW_MINUTES = 60


def upstream_key(deployment_id: uuid.UUID) -> str:
    return deployment_id.hex[:12]


async def last_hour(session: AsyncSession, deployment_ids: list[uuid.UUID]) -> dict[str, dict]:
    """{upstream key: {"requests", "errors", "p95_ms"}} for the deployments that had traffic."""
    if not deployment_ids:
        return {}
    rows = await session.execute(
        text("""
        SELECT substr(u.upstream, 5, 12) AS key, count(*) AS requests,
               count(*) FILTER (WHERE u.status >= 500) AS errors,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) AS p95_ms
        FROM usage_records u
        WHERE u.created_at >= now() - make_interval(mins => :minutes)
          AND u.upstream LIKE 'dep-%' AND substr(u.upstream, 5, 12) = ANY(:keys)
        GROUP BY 1"""),
        {"minutes": WINDOW_MINUTES, "keys": [upstream_key(d) for d in deployment_ids]},
    )
    return {r.key: {"requests": r.requests, "errors": r.errors, "p95_ms": r.p95_ms} for r in rows}
