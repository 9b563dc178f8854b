"""The semantic cache's administration and its figures: which embeddings route a route may use, and
hits, misses, hit rate and savings per route over a time range (from the usage records' `cache`
column: 'semantic' for a hit, 'semantic_miss' for a lookup the upstream answered)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Invalid
from axops.gateway.schemas import SemanticCacheSettings

MAX_RANGE = timedelta(days=92)
FIELD = "semantic_cache.embeddings_route"


async def check(
    session: AsyncSession, route_name: str, team_id: uuid.UUID | None, settings: SemanticCacheSettings | dict | None
) -> None:
    """An enabled semantic cache names an enabled route the route's callers may call: an organisation-wide
    embeddings route, or one of the route's own team. Else 422, nothing written."""
    if isinstance(settings, dict):
        settings = SemanticCacheSettings(**settings)
    if settings is None or not settings.enabled:
        return
    name = settings.embeddings_route
    row = (
        await session.execute(
            text("SELECT team_id, visibility FROM gateway_routes WHERE model_name = :name AND enabled"), {"name": name}
        )
    ).first()
    if row is None or name == route_name:
        raise Invalid(
            f"No enabled route '{name}' to compute embeddings with.",
            code="semantic_embeddings_route_missing",
            field=FIELD,
            route=name,
        )
    if row.visibility == "team" and row.team_id != team_id:
        raise Invalid(
            f"The route's callers may not call the embeddings route '{name}' (it belongs to one team).",
            code="semantic_embeddings_route_forbidden",
            field=FIELD,
            route=name,
        )


_COUNTS = """count(*) FILTER (WHERE u.cache = 'semantic') AS hits,
    count(*) FILTER (WHERE u.cache = 'semantic_miss') AS misses,
    coalesce(sum(u.saved_cost) FILTER (WHERE u.cache = 'semantic'), 0) AS saved_cost"""


def _rate(hits: int, misses: int) -> float | None:
    return hits / (hits + misses) if hits + misses else None


async def stats(session: AsyncSession, principal: Principal, since: datetime | None, until: datetime | None) -> dict:
    """Per route and per time bucket (hour up to 3 days, else day). Without gateway:admin: the caller's
    teams' requests only."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=7)
    if since >= until:
        raise Invalid("`from` must be before `to`.")
    if until - since > MAX_RANGE:
        raise Invalid("The range may span at most 92 days.")
    bucket = "hour" if until - since <= timedelta(days=3) else "day"
    where = "u.created_at >= :since AND u.created_at < :until AND u.cache IN ('semantic', 'semantic_miss')"
    params: dict = {"since": since, "until": until, "bucket": bucket}
    if not (principal.is_admin or principal.can("gateway:admin")):
        where += " AND u.team_id = ANY(:teams)"
        params["teams"] = list(principal.team_ids)
    rows = await session.execute(
        text(
            f"SELECT u.model AS route, {_COUNTS}, (r.semantic_cache ->> 'threshold')::float AS threshold, "
            "coalesce((r.semantic_cache ->> 'enabled')::boolean, false) AS enabled "
            f"FROM usage_records u LEFT JOIN gateway_routes r ON r.model_name = u.model WHERE {where} "
            "GROUP BY u.model, r.semantic_cache ORDER BY hits DESC, u.model"
        ),
        params,
    )
    routes = [
        {
            "route": r.route,
            "hits": r.hits,
            "misses": r.misses,
            "hit_rate": _rate(r.hits, r.misses),
            "saved_cost": float(r.saved_cost),
            "threshold": r.threshold,
            "enabled": r.enabled,
        }
        for r in rows
    ]
    series = await session.execute(
        text(
            f"SELECT date_trunc(:bucket, u.created_at) AS ts, {_COUNTS} FROM usage_records u WHERE {where} GROUP BY 1 ORDER BY 1"
        ),
        params,
    )
    points = [
        {
            "ts": p.ts,
            "hits": p.hits,
            "misses": p.misses,
            "hit_rate": _rate(p.hits, p.misses),
            "saved_cost": float(p.saved_cost),
        }
        for p in series
    ]
    hits, misses = sum(r["hits"] for r in routes), sum(r["misses"] for r in routes)
    return {
        "since": since,
        "until": until,
        "bucket": bucket,
        "totals": {
            "hits": hits,
            "misses": misses,
            "hit_rate": _rate(hits, misses),
            "saved_cost": sum(r["saved_cost"] for r in routes),
        },
        "routes": routes,
        "series": points,
    }
