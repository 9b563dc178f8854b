"""The model dashboards: per gateway route (a deployment's route included), its traffic, errors,
latency, tokens, cost and cache hits per step, the same per version (the upstream that served the
request: a deployment's replica or a provider's model), and the standing of its SLOs.

Routes are seen by the gateway's rule (`visible(principal, Route)`: organisation-wide routes, and
the caller's teams' ones); another team's route answers 404 like a missing one. A range is at most
`MAX_DAYS` (a longer one is cut to its last `MAX_DAYS`) in at most `MAX_STEPS` steps (the step is
widened, never refused). Up to `EXACT_DAYS` the latency percentiles of a step are computed from its
requests (percentile_cont over usage_records); beyond, from the per-minute percentiles the metric
history keeps (each step's average of them), which is what the history can answer for a year."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import visible
from axops.core.errors import Invalid, NotFound
from axops.gateway.models import Route
from axops.monitoring import slos, store

MAX_DAYS = 400
MAX_STEPS = 300
EXACT_DAYS = 7

_FIGURES = """count(*) AS requests,
       count(*) FILTER (WHERE status >= 500) AS e5,
       count(*) FILTER (WHERE status >= 400 AND status < 500) AS e4,
       coalesce(sum(prompt_tokens), 0) AS prompt_tokens, coalesce(sum(completion_tokens), 0) AS completion_tokens,
       coalesce(sum(cost), 0) AS cost, count(*) FILTER (WHERE cache = 'hit') AS cache_hits"""
_PCT = "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS pct"


async def visible_route(session: AsyncSession, principal: Principal, name: str) -> Route:
    route = await session.scalar(select(Route).where(Route.model_name == name, visible(principal, Route)))
    if route is None:
        raise NotFound(f"No route '{name}'.", code="route_not_found")
    return route


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _chips(statuses: list[dict]) -> list[dict]:
    return [
        {
            "id": s["id"],
            "name": s["name"],
            "kind": s["kind"],
            "target": s["target"],
            **{k: s["status"][k] for k in ("attainment", "met", "budget_remaining", "burn_rate_1h")},
        }
        for s in statuses
    ]


async def list_models(session: AsyncSession, principal: Principal, now: datetime | None = None) -> list[dict]:
    """The routes the caller can see with their last 24 h and the standing of the caller's SLOs on them."""
    now = now or datetime.now(UTC)
    routes = list(await session.scalars(select(Route).where(visible(principal, Route)).order_by(Route.model_name)))
    if not routes:
        return []
    names = [r.model_name for r in routes]
    rows = await session.execute(
        text(f"""SELECT model, {_FIGURES}, percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
                 FROM usage_records WHERE created_at >= :since AND created_at < :now AND model = ANY(:names)
                 GROUP BY model"""),
        {"since": now - timedelta(hours=24), "now": now, "names": names},
    )
    figures = {r.model: r for r in rows}
    by_route: dict[str, list[dict]] = {}
    mine = [s for s in await slos.list_slos(session, principal) if s.route in set(names)]
    for s in await slos.described(session, mine, now):
        by_route.setdefault(s["route"], []).append(s)
    out = []
    for r in routes:
        f = figures.get(r.model_name)
        out.append(
            {
                "route": r.model_name,
                "team_id": r.team_id,
                "visibility": r.visibility,
                "enabled": r.enabled,
                "deployment": bool(r.managed_by and r.managed_by.startswith("deployment:")),
                "requests": f.requests if f else 0,
                "error_rate": _rate(f.e5, f.requests) if f else None,
                "p95_ms": f.p95 if f else None,
                "cost": float(f.cost) if f else 0.0,
                "slos": _chips(by_route.get(r.model_name, [])),
            }
        )
    return out


def plan(
    start: datetime | None, end: datetime | None, step_s: int | None, now: datetime
) -> tuple[datetime, datetime, int]:
    """The range (cut to MAX_DAYS) and a step of whole minutes (whole hours past EXACT_DAYS) giving at
    most MAX_STEPS steps; default: the last 24 h."""
    end = end or now
    start = start or end - timedelta(hours=24)
    if end <= start:
        raise Invalid("`to` must be after `from`.")
    start = max(start, end - timedelta(days=MAX_DAYS))
    span = (end - start).total_seconds()
    step = max(step_s or 0, math.ceil(span / MAX_STEPS), 60)
    unit = 3600 if span > EXACT_DAYS * 86400 else 60
    return start, end, math.ceil(step / unit) * unit


def _figures(r, pct=None) -> dict:
    p = list(pct) if pct else [None, None, None]
    return {
        "requests": r.requests,
        "error_rate": _rate(r.e5, r.requests),
        "p50_ms": p[0],
        "p95_ms": p[1],
        "p99_ms": p[2],
        "prompt_tokens": int(r.prompt_tokens),
        "completion_tokens": int(r.completion_tokens),
        "cost": float(r.cost),
        "cache_hits": r.cache_hits,
    }


async def _history_percentiles(
    session: AsyncSession, route: str, start: datetime, end: datetime, step: int, now: datetime
) -> dict[int, list[float | None]]:
    found: dict[int, list[float | None]] = {}
    for i, name in enumerate(("gateway_latency_p50_ms", "gateway_latency_p95_ms", "gateway_latency_p99_ms")):
        page = await store.query(session, name, {"route": route}, start, end, step, now)
        for series in page["series"]:
            if series["labels"] != {"route": route}:
                continue
            for t, v in series["points"]:
                found.setdefault(t, [None, None, None])[i] = v
    return found


async def dashboard(
    session: AsyncSession,
    principal: Principal,
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    step_s: int | None = None,
    now: datetime | None = None,
) -> dict:
    now = now or datetime.now(UTC)
    route = await visible_route(session, principal, name)
    start, end, step = plan(start, end, step_s, now)
    exact = (end - start) <= timedelta(days=EXACT_DAYS)
    params = {"route": route.model_name, "start": start, "end": end, "step": step}
    where = "FROM usage_records WHERE model = :route AND created_at >= :start AND created_at < :end"
    rows = (
        await session.execute(
            text(f"""SELECT floor(extract(epoch FROM created_at) / :step)::bigint * :step AS bucket, {_FIGURES}
                     {", " + _PCT if exact else ""} {where} GROUP BY 1 ORDER BY 1"""),
            params,
        )
    ).all()
    history = {} if exact else await _history_percentiles(session, route.model_name, start, end, step, now)
    steps = []
    for r in rows:
        f = _figures(r, r.pct if exact else history.get(int(r.bucket)))
        steps.append({"t": int(r.bucket), "qps": r.requests / step, "client_error_rate": _rate(r.e4, r.requests), **f})
    versions = (
        await session.execute(
            text(f"SELECT coalesce(upstream, '') AS upstream, {_FIGURES}, {_PCT} {where} GROUP BY 1 ORDER BY 2 DESC"),
            params,
        )
    ).all()
    total = (await session.execute(text(f"SELECT '' AS upstream, {_FIGURES}, {_PCT} {where}"), params)).one()
    on_route = await slos.list_slos(session, principal, route=route.model_name)
    return {
        "route": route.model_name,
        "start": start,
        "end": end,
        "step": step,
        "latency_source": "usage_records" if exact else "metric_history",
        "steps": steps,
        "totals": {"upstream": "", **_figures(total, total.pct)},
        "versions": [{"upstream": v.upstream, **_figures(v, v.pct)} for v in versions],
        "slos": await slos.described(session, on_route, now),
    }
