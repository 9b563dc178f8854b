"""Service level objectives: CRUD (team-owned, audited) and what they measure.

What counts (docs/MONITORING.md, "SLOs and the monthly SLA report"):
- success: the share of the route's requests (usage_records, model = route) answered with a status
  below 500. 4xx answers, 429 included, are the caller's (a malformed request, an exhausted key
  limit or budget) and count as good; they are reported apart.
- availability: the share of closed minutes in which the route was up. A minute with health-probe
  points (`gateway_route_up` {route} in the metric history: 1 up, 0 down, written each minute from
  the gateway's probes by slo_tasks.py) is down when their average is below 0.5; a minute without
  probe points is down when it had requests and every one failed with a 5xx (the gateway records
  connection failures and timeouts as 502/504). Minutes with neither count as up.
Error budget = 1 - target. Budget remaining = 1 - bad / allowed bad, where allowed bad is
(1 - target) x the requests so far (success) or x the minutes of the whole window (availability);
below 0 when overspent. Burn rate over the last 1 h / 6 h = the bad share in it / (1 - target).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, sees, team_clause, visible
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.ids import uuid7
from axops.gateway.models import Route
from axops.monitoring.slo_models import Slo
from axops.serving.models import Deployment

PROBE_SERIES = "gateway_route_up"
BUDGET_SERIES = "slo_error_budget_remaining"
DEFAULT_TARGETS = {"availability": 99.5, "success": 99.0}
ROLLING = timedelta(days=30)


# --- what is measured ---------------------------------------------------------------------------


@dataclass
class Minute:
    requests: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    rate_limited: int = 0
    probe: float | None = None  # average of the probe points in the minute (1 up, 0 down)

    def down(self) -> bool:
        if self.probe is not None:
            return self.probe < 0.5
        return self.requests > 0 and self.errors_5xx == self.requests


@dataclass
class Measured:
    """A route's minutes (only those with requests or probes) over [start, end), end a closed minute."""

    start: datetime
    end: datetime
    minutes: dict[datetime, Minute] = field(default_factory=dict)

    def slice(self, start: datetime, end: datetime) -> list[tuple[datetime, Minute]]:
        return [(t, m) for t, m in self.minutes.items() if start <= t < end]


_REQUESTS = text("""
SELECT date_trunc('minute', created_at) AS m, count(*) AS n,
       count(*) FILTER (WHERE status >= 500) AS e5,
       count(*) FILTER (WHERE status >= 400 AND status < 500) AS e4,
       count(*) FILTER (WHERE status = 429) AS e429
FROM usage_records WHERE model = :route AND created_at >= :start AND created_at < :end
GROUP BY 1
""")
# Probe points: raw ones (kept 2 days) and minute rollups (30 days); a minute both hold averages alike.
_PROBES = text("""
SELECT m, avg(v) FROM (
    SELECT date_trunc('minute', p.ts) AS m, p.value AS v FROM metric_points p JOIN metric_series s ON s.id = p.series_id
    WHERE s.name = :name AND s.labels @> CAST(:labels AS jsonb) AND p.ts >= :start AND p.ts < :end
    UNION ALL
    SELECT r.bucket, r.sum / r.count FROM metric_points_1m r JOIN metric_series s ON s.id = r.series_id
    WHERE s.name = :name AND s.labels @> CAST(:labels AS jsonb) AND r.bucket >= :start AND r.bucket < :end
) x GROUP BY m
""")


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


# The collector's per-minute counts (monitoring/collector.py) of minutes it has closed: raw points (2 days)
# and minute rollups (30 days); a minute both hold gives the same value.
_HISTORY = text("""
SELECT x.m, s.name, avg(x.v) FROM (
    SELECT series_id, date_trunc('minute', ts) AS m, value AS v FROM metric_points
    WHERE series_id = ANY(:ids) AND ts >= :start AND ts < :end
    UNION ALL
    SELECT series_id, bucket, sum / count FROM metric_points_1m
    WHERE series_id = ANY(:ids) AND bucket >= :start AND bucket < :end
) x JOIN metric_series s ON s.id = x.series_id GROUP BY 1, 2
""")
HISTORY_SERIES = ("gateway_requests", "gateway_errors", "gateway_server_errors")


async def _from_history(session: AsyncSession, route: str, start: datetime, end: datetime, out: Measured) -> None:
    labels = orjson.dumps({"route": route}).decode()
    ids = list(
        await session.scalars(
            text("SELECT id FROM metric_series WHERE name = ANY(:names) AND labels = CAST(:labels AS jsonb)"),
            {"names": list(HISTORY_SERIES), "labels": labels},
        )
    )
    if not ids:
        return
    found: dict[datetime, dict[str, float]] = {}
    for m, name, v in (await session.execute(_HISTORY, {"ids": ids, "start": start, "end": end})).all():
        found.setdefault(m, {})[name] = v
    for m, f in found.items():
        n, e5 = round(f.get("gateway_requests", 0)), round(f.get("gateway_server_errors", 0))
        if n:
            out.minutes[m] = Minute(n, e5, max(0, round(f.get("gateway_errors", 0)) - e5))


async def measure(session: AsyncSession, route: str, start: datetime, end: datetime, exact: bool = False) -> Measured:
    """The route's requests and probe results per minute in [start, end). Minutes the collector has
    closed come from its per-minute history (cheap for busy routes; 429s are not kept there, so
    `rate_limited` counts only the newer minutes), the rest from the requests; `exact`: every minute
    from the requests (the monthly report)."""
    out = Measured(start, end)
    split = start
    if not exact:
        collected = await session.scalar(text("SELECT at FROM metric_watermarks WHERE source = 'gateway'"))
        if collected is not None and collected > start:
            split = min(collected, end)
            await _from_history(session, route, start, split, out)
    params = {"route": route, "start": split, "end": end}
    for m, n, e5, e4, e429 in (await session.execute(_REQUESTS, params)).all():
        out.minutes[m] = Minute(n, e5, e4, e429)
    labels = orjson.dumps({"route": route}).decode()
    probe_params = {"name": PROBE_SERIES, "labels": labels, "start": start, "end": end}
    for m, up in (await session.execute(_PROBES, probe_params)).all():
        out.minutes.setdefault(m, Minute()).probe = float(up)
    return out


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt


def window_bounds(window: str, now: datetime) -> tuple[datetime, datetime]:
    """The whole window [start, end) an SLO is judged over at `now`."""
    end = floor_minute(now)
    if window == "calendar_month":
        return month_bounds(now.date())
    return end - ROLLING, end


def _minutes(a: datetime, b: datetime) -> int:
    return max(0, int((b - a).total_seconds() // 60))


def figures(kind: str, target: float, data: Measured, window_minutes: int | None = None) -> dict:
    """Attainment, budget and counts of one SLO over `data` (its start to its end). `window_minutes`:
    the whole window's length for an availability budget (default: the measured minutes)."""
    budget = 1 - target / 100
    rows = data.slice(data.start, data.end)
    elapsed = _minutes(data.start, data.end)
    requests = sum(m.requests for _, m in rows)
    e5 = sum(m.errors_5xx for _, m in rows)
    down = sorted(t for t, m in rows if m.down())
    if kind == "availability":
        good_total, bad = elapsed, len(down)
        allowed = budget * (window_minutes or elapsed)
    else:
        good_total, bad = requests, e5
        allowed = budget * requests
    attainment = None if good_total == 0 else 1 - bad / good_total
    remaining = 1.0 if bad == 0 else (1 - bad / allowed if allowed > 0 else 0.0)
    return {
        "attainment": attainment,
        "met": attainment is None or attainment * 100 >= target - 1e-9,
        "budget_remaining": remaining,
        "bad": bad,
        "allowed_bad": allowed,
        "requests": requests,
        "errors_5xx": e5,
        "errors_4xx": sum(m.errors_4xx for _, m in rows),
        "rate_limited": sum(m.rate_limited for _, m in rows),
        "downtime_minutes": len(down),
        "minutes": elapsed,
    }


def burn_rate(kind: str, target: float, data: Measured, hours: int) -> float:
    """The bad share over the last `hours` before data.end over the error budget (1 = spending it
    exactly as fast as the window allows)."""
    budget = 1 - target / 100
    rows = data.slice(data.end - timedelta(hours=hours), data.end)
    if kind == "availability":
        share = sum(1 for _, m in rows if m.down()) / (hours * 60)
    else:
        n = sum(m.requests for _, m in rows)
        share = sum(m.errors_5xx for _, m in rows) / n if n else 0.0
    return share / budget


def bad_minute(kind: str, target: float, m: Minute) -> bool:
    """A minute counted in incidents: down (availability), or a 5xx share above the budget (success)."""
    if kind == "availability":
        return m.down()
    return m.requests > 0 and m.errors_5xx / m.requests > 1 - target / 100


def _reach(slo: Slo, now: datetime) -> datetime:
    """How far back an SLO's standing reads: its window's start, or 6 h for the burn rates."""
    return min(window_bounds(slo.window, now)[0], floor_minute(now) - timedelta(hours=6))


async def status(session: AsyncSession, slo: Slo, now: datetime | None = None, data: Measured | None = None) -> dict:
    """The SLO's standing now: its window's figures and the 1 h / 6 h burn rates. `data`: the route's
    minutes measured already (reaching back at least as far), shared by the SLOs of one route."""
    now = now or datetime.now(UTC)
    start, window_end = window_bounds(slo.window, now)
    end = floor_minute(now)
    if data is None:
        data = await measure(session, slo.route, _reach(slo, now), end)
    burns = {
        "burn_rate_1h": burn_rate(slo.kind, slo.target, data, 1),
        "burn_rate_6h": burn_rate(slo.kind, slo.target, data, 6),
    }
    window = Measured(start, end, data.minutes)
    return {
        **figures(slo.kind, slo.target, window, _minutes(start, window_end)),
        **burns,
        "window_start": start,
        "window_end": window_end,
    }


async def statuses(session: AsyncSession, items: list[Slo], now: datetime) -> dict[uuid.UUID, dict]:
    """Each SLO's standing, reading each route's minutes once."""
    reach: dict[str, datetime] = {}
    for slo in items:
        reach[slo.route] = min(reach.get(slo.route, now), _reach(slo, now))
    end = floor_minute(now)
    measured = {route: await measure(session, route, start, end) for route, start in reach.items()}
    return {slo.id: await status(session, slo, now, measured[slo.route]) for slo in items}


# --- configuration --------------------------------------------------------------------------------


def _not_found(slo_id) -> NotFound:
    return NotFound(f"No SLO {slo_id}.", code="slo_not_found")


async def resolve_target(
    session: AsyncSession, principal: Principal, route: str | None, deployment_id: uuid.UUID | None
) -> tuple[str, uuid.UUID | None]:
    """The route an SLO measures: a route the caller can see, or a visible deployment's route."""
    if deployment_id is not None:
        dep = await session.scalar(
            select(Deployment).where(Deployment.id == deployment_id, visible(principal, Deployment))
        )
        if dep is None:
            raise Invalid("No such deployment among yours.", code="slo_deployment_unknown", field="deployment_id")
        return dep.name, dep.id
    found = await session.scalar(select(Route).where(Route.model_name == route))
    if found is None or not sees(principal, found):
        raise Invalid(f"No gateway route '{route}'.", code="slo_route_unknown", field="route", route=route)
    return found.model_name, None


def _audit(session: AsyncSession, action: str, slo: Slo, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="slo",
        resource_id=slo.id,
        team_id=slo.team_id,
        summary={"name": slo.name, "route": slo.route, "kind": slo.kind, "target": slo.target, **summary},
    )


async def _flush_named(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_slos_team_id_name" not in str(exc.orig):
            raise
        raise Conflict(f"Your team has an SLO named '{name}' already.", code="slo_exists", name=name) from None


async def create(session: AsyncSession, principal: Principal, data) -> Slo:
    team_id = owning_team(principal, data.team_id)
    route, deployment_id = await resolve_target(session, principal, data.route, data.deployment_id)
    now = datetime.now(UTC)
    slo = Slo(
        id=uuid7(),
        team_id=team_id,
        name=data.name,
        description=data.description,
        route=route,
        deployment_id=deployment_id,
        kind=data.kind,
        target=data.target if data.target is not None else DEFAULT_TARGETS[data.kind],
        window=data.window,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(slo)
    await _flush_named(session, data.name)
    _audit(session, "slo.create", slo, window=slo.window)
    return slo


async def get(session: AsyncSession, principal: Principal, slo_id: uuid.UUID, *, for_update: bool = False) -> Slo:
    q = select(Slo).where(Slo.id == slo_id, team_clause(principal, Slo.team_id))
    slo = await session.scalar(q.with_for_update() if for_update else q)
    if slo is None:
        raise _not_found(slo_id)
    return slo


async def update(session: AsyncSession, principal: Principal, slo_id: uuid.UUID, data) -> Slo:
    slo = await get(session, principal, slo_id, for_update=True)
    require_owner(principal, slo, "alerts:write", "SLO")
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    before = {k: getattr(slo, k) for k in changes}
    for k, v in changes.items():
        setattr(slo, k, v)
    await _flush_named(session, slo.name)
    _audit(session, "slo.update", slo, before=before, after={k: getattr(slo, k) for k in changes})
    await session.refresh(slo)
    return slo


async def delete(session: AsyncSession, principal: Principal, slo_id: uuid.UUID) -> None:
    slo = await get(session, principal, slo_id, for_update=True)
    require_owner(principal, slo, "alerts:write", "SLO")
    _audit(session, "slo.delete", slo)
    await session.delete(slo)
    await session.flush()


async def list_slos(session: AsyncSession, principal: Principal, route: str | None = None) -> list[Slo]:
    """The caller's teams' SLOs (every team's for an Admin), by route and name."""
    q = select(Slo).where(team_clause(principal, Slo.team_id))
    if route is not None:
        q = q.where(Slo.route == route)
    return list(await session.scalars(q.order_by(Slo.route, Slo.name)))


async def described(session: AsyncSession, slos: list[Slo], now: datetime | None = None) -> list[dict]:
    """SLOs as the API shows them: their settings, team name and standing now."""
    now = now or datetime.now(UTC)
    teams = {}
    if slos:
        rows = await session.execute(
            text("SELECT id, name FROM teams WHERE id = ANY(:ids)"), {"ids": list({s.team_id for s in slos})}
        )
        teams = dict(rows.all())
    standing = await statuses(session, slos, now)
    out = []
    for s in slos:
        out.append(
            {
                "id": s.id,
                "team_id": s.team_id,
                "team_name": teams.get(s.team_id),
                "name": s.name,
                "description": s.description,
                "route": s.route,
                "deployment_id": s.deployment_id,
                "kind": s.kind,
                "target": s.target,
                "window": s.window,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "status": standing[s.id],
            }
        )
    return out
