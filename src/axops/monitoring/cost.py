"""Spend: the gateway's usage cost per day and month grouped by route, team, user, upstream or API key
(`gateway.usage_queries.usage` does the aggregating), the GPU-hour cost of deployments and training
jobs, and the GPU rates that price them.

Scoping: callers without `gateway:admin` see the usage records of their teams and their own, and the
deployments and jobs of their teams.

GPU time is an approximation, because replica lifetimes are not kept as a history: a deployment holds
`replicas_desired` (its current value) × `resources.gpu` GPUs from its creation (loading included) until
it stopped or failed (`stopped_at`, else its last update) or until now; a training job holds
`resources.gpus` × `resources.nodes` GPUs from `started_at` (its latest attempt) until `finished_at` or now.
Each is priced by the deployment's own `pricing.gpu_hour_price` when set, else the rate of its GPU type,
else the `default` rate (0 when none is set)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.errors import Invalid
from axops.gateway import usage_queries
from axops.monitoring.cost_models import DEFAULT_GPU_TYPE, GpuRate

GROUPS = ("model", "team", "user", "upstream", "api_key")
MAX_DAYS = 92


def sees_all(principal: Principal) -> bool:
    return principal.is_admin or principal.can("gateway:admin")


def usage_scope(principal: Principal, alias: str = "u") -> tuple[str, dict]:
    """A SQL condition on usage_records (as `alias`) for what the caller may see, and its parameters."""
    if sees_all(principal):
        return "TRUE", {}
    return (
        f"({alias}.team_id = ANY(:scope_teams) OR {alias}.user_id = :scope_me)",
        {"scope_teams": list(principal.team_ids), "scope_me": principal.user_id},
    )


def month_window(month: str) -> tuple[datetime, datetime]:
    """'2026-12' → [first instant of the month, first instant of the next) in UTC."""
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise Invalid("month is YYYY-MM.", code="cost_bad_month") from None
    return first, next_month(first)


def next_month(at: datetime) -> datetime:
    first = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    if since >= until:
        raise Invalid("`since` must be before `until`.", code="cost_bad_window", limit=MAX_DAYS)
    if until - since > timedelta(days=MAX_DAYS):
        raise Invalid(f"A cost window is at most {MAX_DAYS} days.", code="cost_bad_window", limit=MAX_DAYS)
    return since, until


async def spend(
    session: AsyncSession, principal: Principal, since: datetime | None, until: datetime | None, group_by: str
) -> dict:
    """Cost per day and group, per month, per group over the window, and the GPU-hour cost."""
    if group_by not in GROUPS:
        raise Invalid(f"group_by is one of {', '.join(GROUPS)}.", code="cost_bad_group")
    since, until = _window(since, until)
    found = await usage_queries.usage(
        session, principal, since=since, until=until, bucket="day", group_by=group_by, own_teams=True
    )
    monthly: dict[str, float] = defaultdict(float)
    daily = []
    for r in found["series"]:
        day = r["ts"].astimezone(UTC).date()
        monthly[day.strftime("%Y-%m")] += r["cost"]
        daily.append({"day": day, "group": r["group"], "cost": r["cost"], "requests": r["requests"]})
    totals = sorted(
        (
            {
                "group": r["group"],
                "cost": r["cost"],
                "requests": r["requests"],
                "prompt_tokens": r["prompt_tokens"],
                "completion_tokens": r["completion_tokens"],
            }
            for r in found["totals"]
        ),
        key=lambda t: -t["cost"],
    )
    gpu = await gpu_costs(session, principal, since, until)
    return {
        "since": since,
        "until": until,
        "group_by": group_by,
        "scope": "all" if sees_all(principal) else "teams",
        "total": sum(t["cost"] for t in totals),
        "daily": daily,
        "monthly": [{"month": m, "cost": c} for m, c in sorted(monthly.items())],
        "totals": totals,
        "gpu": gpu,
    }


async def daily_costs(
    session: AsyncSession,
    principal: Principal,
    since: datetime,
    until: datetime,
    subject: tuple[str, uuid.UUID] | None = None,
) -> dict[date, float]:
    """Usage cost per UTC day in [since, until): what the caller may see, or every record of one
    key/user/team (`subject`, whose visibility the caller checked)."""
    if subject is None:
        where, params = usage_scope(principal)
    else:
        column = {"key": "api_key_id", "user": "user_id", "team": "team_id"}[subject[0]]
        where, params = f"u.{column} = :subject", {"subject": subject[1]}
    rows = await session.execute(
        text(
            "SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AS day, coalesce(sum(u.cost), 0) AS cost "
            f"FROM usage_records u WHERE u.created_at >= :since AND u.created_at < :until AND {where} GROUP BY 1"
        ),
        {"since": since, "until": until, **params},
    )
    return {r.day.date(): float(r.cost) for r in rows}


# --- GPU rates ----------------------------------------------------------------------------------------


async def rates(session: AsyncSession) -> list[GpuRate]:
    return list((await session.scalars(select(GpuRate).order_by(GpuRate.gpu_type))).all())


async def rate_table(session: AsyncSession) -> tuple[dict[str, float], float, str]:
    """{gpu_type: hourly rate}, the default rate (0 when none is set) and the currency."""
    found = await rates(session)
    table = {r.gpu_type: r.hourly_rate for r in found}
    currency = next(
        (r.currency for r in found if r.gpu_type == DEFAULT_GPU_TYPE), found[0].currency if found else "USD"
    )
    return table, table.get(DEFAULT_GPU_TYPE, 0.0), currency


async def set_rates(session: AsyncSession, principal: Principal, new: list[dict]) -> list[GpuRate]:
    """Replace the whole rate table (the caller has `infra:admin`); audited with the changes."""
    names = [r["gpu_type"] for r in new]
    if len(set(names)) != len(names):
        raise Invalid("Each GPU type appears once.", code="cost_duplicate_gpu_type")
    before = {r.gpu_type: [r.hourly_rate, r.currency] for r in await rates(session)}
    await session.execute(GpuRate.__table__.delete())
    for r in new:
        session.add(
            GpuRate(
                gpu_type=r["gpu_type"],
                hourly_rate=r["hourly_rate"],
                currency=r["currency"],
                updated_by=principal.user_id,
            )
        )
    await session.flush()
    after = {r["gpu_type"]: [r["hourly_rate"], r["currency"]] for r in new}
    audit.record(
        session,
        "cost.gpu_rates_updated",
        resource_type="cost_gpu_rates",
        summary={"changes": audit.diff(before, after), "removed": sorted(set(before) - set(after))},
    )
    return await rates(session)


# --- GPU-hour cost --------------------------------------------------------------------------------------

_DEPLOYMENTS = """
SELECT d.id, d.name, t.name AS team, d.status, coalesce((d.resources->>'gpu')::int, 0) AS gpus,
       d.resources->>'gpu_type' AS gpu_type, (d.pricing->>'gpu_hour_price')::float AS own_rate,
       d.replicas_desired AS replicas,
       greatest(d.created_at, :since) AS started,
       least(CASE WHEN d.status IN ('stopped', 'failed') THEN coalesce(d.stopped_at, d.updated_at) ELSE :until END,
             :until) AS ended
FROM deployments d JOIN teams t ON t.id = d.team_id
WHERE coalesce((d.resources->>'gpu')::int, 0) > 0 AND d.created_at < :until
  AND (CAST(:teams AS uuid[]) IS NULL OR d.team_id = ANY(CAST(:teams AS uuid[])))"""

_JOBS = """
SELECT j.id, j.name, t.name AS team, j.status,
       coalesce((j.resources->>'gpus')::int, 0) * coalesce((j.resources->>'nodes')::int, 1) AS gpus,
       j.resources->>'gpu_type' AS gpu_type,
       greatest(j.started_at, :since) AS started, least(coalesce(j.finished_at, :until), :until) AS ended
FROM training_jobs j JOIN teams t ON t.id = j.team_id
WHERE j.started_at IS NOT NULL AND j.started_at < :until AND coalesce((j.resources->>'gpus')::int, 0) > 0
  AND (CAST(:teams AS uuid[]) IS NULL OR j.team_id = ANY(CAST(:teams AS uuid[])))"""


async def gpu_costs(session: AsyncSession, principal: Principal, since: datetime, until: datetime) -> dict:
    """GPU-hours and their cost per deployment and training job in [since, until)."""
    table, default, currency = await rate_table(session)
    params = {"since": since, "until": until, "teams": team_ids_param(principal)}

    def priced(r, kind: str, replicas: int) -> dict | None:
        hours = (r.ended - r.started).total_seconds() / 3600
        if hours <= 0:
            return None
        rate = getattr(r, "own_rate", None) or table.get(r.gpu_type or "", default)
        gpu_hours = hours * replicas * r.gpus
        return {
            "kind": kind,
            "id": r.id,
            "name": r.name,
            "team": r.team,
            "status": r.status,
            "gpu_type": r.gpu_type,
            "gpus": replicas * r.gpus,
            "hours": round(hours, 4),
            "gpu_hours": round(gpu_hours, 4),
            "rate": rate,
            "cost": gpu_hours * rate,
        }

    items = [priced(r, "deployment", r.replicas) for r in await session.execute(text(_DEPLOYMENTS), params)]
    items += [priced(r, "training", 1) for r in await session.execute(text(_JOBS), params)]
    found = sorted((i for i in items if i), key=lambda i: -i["cost"])
    return {
        "currency": currency,
        "default_rate": default,
        "total": sum(i["cost"] for i in found),
        "gpu_hours": sum(i["gpu_hours"] for i in found),
        "items": found,
    }


def replica_hour_rate(resources: dict, pricing: dict, table: dict[str, float], default: float) -> float:
    """What one replica of a deployment costs per hour (its GPUs at its rate)."""
    rate = (pricing or {}).get("gpu_hour_price") or table.get((resources or {}).get("gpu_type") or "", default)
    return float(rate) * int((resources or {}).get("gpu") or 0)
