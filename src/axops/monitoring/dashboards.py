"""The system dashboard (PRD §7.3 ①) in one read, and the time range every dashboard shares.

GPUs and nodes are the platform's (everyone with `infra:read` sees them); deployments and the gateway's
requests are counted over what the caller sees (`visible` routes and deployments; Admins and gateway admins
everything), the same rule as the series API (`scope.py`). Requests, errors and p95 are exact, read from the
usage records for ranges up to a day; longer ranges read the gateway's per-minute series from the metric history
(the same counts, rolled up; p95 is then the mean of the per-minute p95s), since a percentile over a month of
usage records takes seconds. Training and data dashboards are dashboards_training.py and dashboards_data.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param, visible
from axops.core.db import fetch_raw
from axops.core.errors import Invalid
from axops.gateway.models import Route
from axops.serving.models import Deployment

MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(hours=24)
FRESH = timedelta(minutes=5)  # a GPU that reported within this is "now"
EXACT_SPAN = timedelta(hours=24)  # up to this, requests are counted from the usage records themselves
TOP_ROUTES = 10


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    clipped: bool  # the asked range was longer than MAX_SPAN: its start was moved

    def out(self) -> dict:
        return {"from": self.start, "to": self.end, "clipped": self.clipped}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def bounded_range(from_: datetime | None, to: datetime | None, now: datetime) -> Range:
    """`from`..`to` (defaults: the last 24 hours up to now); longer than 400 days: the last 400 days of it."""
    end = _utc(to) if to else now
    start = _utc(from_) if from_ else end - DEFAULT_SPAN
    if start >= end:
        raise Invalid("The period must start before it ends.", code="dashboard_range_invalid")
    if end - start > MAX_SPAN:
        return Range(end - MAX_SPAN, end, True)
    return Range(start, end, False)


async def visible_routes(session: AsyncSession, principal: Principal) -> list[str] | None:
    """The gateway routes the caller sees, or None for all (Admins, gateway admins)."""
    if principal.is_admin or principal.can("gateway:admin"):
        return None
    return list((await session.scalars(select(Route.model_name).where(visible(principal, Route)))).all())


_GPUS_NOW = """
SELECT DISTINCT ON (s.id) s.name, s.labels->>'node' AS node, s.labels->>'gpu' AS gpu, p.value
FROM metric_series s JOIN metric_points p ON p.series_id = s.id
WHERE s.name IN ('gpu_utilization', 'gpu_memory_used_bytes', 'gpu_memory_total_bytes') AND p.ts >= $1
ORDER BY s.id, p.ts DESC"""
_NODES_KNOWN = """SELECT count(DISTINCT labels->>'node') FROM metric_series
WHERE name IN ('gpu_utilization', 'gpu_node_up') AND labels ? 'node'"""
_NODES_UP = """
SELECT DISTINCT ON (s.id) s.labels->>'node' AS node, p.value
FROM metric_series s JOIN metric_points p ON p.series_id = s.id
WHERE s.name = 'gpu_node_up' AND p.ts >= $1 ORDER BY s.id, p.ts DESC"""

_REQUESTS = """
SELECT count(*) AS requests, count(*) FILTER (WHERE status >= 400) AS errors,
       count(*) FILTER (WHERE status >= 500) AS server_errors,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
FROM usage_records WHERE created_at >= $1 AND created_at < $2 AND ($3::text[] IS NULL OR model = ANY($3))"""
_TOP_ROUTES = """
SELECT model AS route, count(*) AS requests, count(*) FILTER (WHERE status >= 400) AS errors,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
FROM usage_records WHERE created_at >= $1 AND created_at < $2 AND ($3::text[] IS NULL OR model = ANY($3))
GROUP BY model ORDER BY requests DESC, model LIMIT 10"""

# The gateway's per-minute series summed over the range, per route, reading each rollup up to its watermark and
# the finer tables after it (as store.query does).
_FROM_HISTORY = """
WITH ids AS (
  SELECT id, name, labels->>'route' AS route FROM metric_series
  WHERE name IN ('gateway_requests', 'gateway_errors', 'gateway_server_errors', 'gateway_latency_p95_ms')
    AND ($3::text[] IS NULL OR labels->>'route' = ANY($3))
), p AS (
  SELECT series_id, sum AS total, count AS n FROM metric_points_1h
  WHERE series_id IN (SELECT id FROM ids) AND bucket >= $1 AND bucket < $2 AND bucket < $5
  UNION ALL
  SELECT series_id, sum, count FROM metric_points_1m
  WHERE series_id IN (SELECT id FROM ids) AND bucket >= $1 AND bucket < $2 AND bucket >= $5 AND bucket < $4
  UNION ALL
  SELECT series_id, value, 1 FROM metric_points
  WHERE series_id IN (SELECT id FROM ids) AND ts >= $1 AND ts < $2 AND ts >= greatest($4, $5)
)
SELECT ids.name, ids.route, sum(p.total)::float8 AS total, sum(p.n)::float8 AS n FROM p JOIN ids ON ids.id = p.series_id
GROUP BY 1, 2"""
_EPOCH = datetime.fromtimestamp(0, UTC)


async def _gpus(session: AsyncSession, now: datetime) -> dict:
    rows = await fetch_raw(session, _GPUS_NOW, now - FRESH)
    util = [r["value"] for r in rows if r["name"] == "gpu_utilization"]
    used = sum(r["value"] for r in rows if r["name"] == "gpu_memory_used_bytes")
    total = sum(r["value"] for r in rows if r["name"] == "gpu_memory_total_bytes")
    nodes_up = {r["node"] for r in rows if r["node"] is not None}
    for r in await fetch_raw(session, _NODES_UP, now - FRESH):
        (nodes_up.add if r["value"] >= 1 else nodes_up.discard)(r["node"])
    known = (await fetch_raw(session, _NODES_KNOWN))[0][0] or 0
    return {
        "gpus": len(util),
        "gpu_utilization": sum(util) / len(util) if util else None,
        "gpu_memory_used_bytes": used,
        "gpu_memory_total_bytes": total,
        "nodes_up": len(nodes_up),
        "nodes_known": max(known, len(nodes_up)),
    }


async def _deployments(session: AsyncSession, principal: Principal) -> dict:
    rows = (
        await session.execute(
            select(Deployment.status, Deployment.replicas_desired, Deployment.replicas).where(
                visible(principal, Deployment), Deployment.status != "stopped"
            )
        )
    ).all()
    by_status: dict[str, int] = {}
    for status, _, _ in rows:
        by_status[status] = by_status.get(status, 0) + 1
    return {
        "active": len(rows),
        "by_status": by_status,
        "replicas_ready": sum(sum(1 for r in reps or [] if r.get("state") == "ready") for _, _, reps in rows),
        "replicas_desired": sum(desired or 0 for _, desired, _ in rows),
    }


async def firing_alerts(session: AsyncSession, principal: Principal) -> int:
    """Firing alerts of the caller's teams (all for an Admin)."""
    sql = "SELECT count(*) FROM alerts WHERE state = 'firing' AND ($1::uuid[] IS NULL OR team_id = ANY($1))"
    return (await fetch_raw(session, sql, team_ids_param(principal)))[0][0]


async def _requests_exact(session: AsyncSession, window: Range, routes: list[str] | None) -> tuple[dict, list]:
    totals = dict((await fetch_raw(session, _REQUESTS, window.start, window.end, routes))[0])
    top = [dict(r) for r in await fetch_raw(session, _TOP_ROUTES, window.start, window.end, routes)]
    return totals, top


async def _requests_from_history(session: AsyncSession, window: Range, routes: list[str] | None) -> tuple[dict, list]:
    marks = dict(await fetch_raw(session, "SELECT source, at FROM metric_watermarks WHERE source LIKE 'rollup_%'"))
    rows = await fetch_raw(
        session,
        _FROM_HISTORY,
        window.start,
        window.end,
        routes,
        marks.get("rollup_1m", _EPOCH),
        marks.get("rollup_1h", _EPOCH),
    )
    per: dict[str, dict] = {}
    for r in rows:
        per.setdefault(r["route"], {})[r["name"]] = (r["total"], r["n"])

    def figures(route: str, series: dict) -> dict:
        p95 = series.get("gateway_latency_p95_ms")
        return {
            "route": route,
            "requests": int(series.get("gateway_requests", (0, 0))[0]),
            "errors": int(series.get("gateway_errors", (0, 0))[0]),
            "server_errors": int(series.get("gateway_server_errors", (0, 0))[0]),
            "p95_ms": p95[0] / p95[1] if p95 and p95[1] else None,
        }

    routes_out = [figures(route, series) for route, series in per.items() if route is not None]
    routes_out = [r for r in routes_out if r["requests"]]
    all_p95 = [s["gateway_latency_p95_ms"] for s in per.values() if "gateway_latency_p95_ms" in s]
    totals = {
        "requests": sum(r["requests"] for r in routes_out),
        "errors": sum(r["errors"] for r in routes_out),
        "server_errors": sum(r["server_errors"] for r in routes_out),
        "p95_ms": sum(t for t, _ in all_p95) / n if (n := sum(c for _, c in all_p95)) else None,
    }
    top = sorted(routes_out, key=lambda r: (-r["requests"], r["route"]))[:TOP_ROUTES]
    return totals, [{k: r[k] for k in ("route", "requests", "errors", "p95_ms")} for r in top]


async def system(session: AsyncSession, principal: Principal, window: Range, now: datetime) -> dict:
    routes = await visible_routes(session, principal)
    exact = window.end - window.start <= EXACT_SPAN
    read = _requests_exact if exact else _requests_from_history
    totals, top = await read(session, window, routes)
    requests = totals["requests"]
    return {
        "range": window.out(),
        "gpus": await _gpus(session, now),
        "deployments": await _deployments(session, principal),
        "requests": {
            "requests": requests,
            "errors": totals["errors"],
            "server_errors": totals["server_errors"],
            "error_rate": totals["errors"] / requests if requests else None,
            "p95_ms": totals["p95_ms"],
            "exact": exact,
        },
        "routes": top,
        "firing_alerts": await firing_alerts(session, principal),
    }
