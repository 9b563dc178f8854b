"""What-if cost simulator: the last `days` of usage per route and upstream as the baseline, scenarios
applied, both scaled to a 30-day month.

Prices are per 1M tokens, as the gateway charges a request (`gateway/call.py` `cost_of`:
(prompt tokens × input price + completion tokens × output price) / 1e6), with a target's effective
prices (`gateway.schemas.effective_prices`: explicit, or derived from its GPU-hour rate).

Per route, the model is: gross cost G = what its traffic costs before the cache (the records' cost +
saved_cost, or its tokens at the new prices for an upstream whose price changes); h = its current cache
hit share (saved_cost / G). Projected = (1 − x) × G × (1 − y) + Σ x_i × (its tokens at destination i's
prices) × (1 − y_i), where x_i is the share moved to destination i (x = Σ x_i ≤ 1), y the route's
scenario hit rate (else h) and y_i the destination route's (else its current h). With no scenario
this is exactly the recorded cost. A cache hit is priced 0, like the gateway's. Moved traffic stays
in its source route's row of the breakdown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import visible
from axops.core.errors import Invalid
from axops.gateway.models import Provider, Route
from axops.gateway.schemas import effective_prices
from axops.monitoring.cost import usage_scope

MONTH_DAYS = 30


@dataclass
class Usage:
    """One route's traffic through one upstream (None: cache hits) over the baseline days."""

    route: str
    upstream: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    saved_cost: float = 0.0


@dataclass
class Target:
    upstream: str  # "<provider name>/<model>", as usage records name it
    input_price: float
    output_price: float
    priority: int = 0


@dataclass
class RoutePrices:
    strategy: str = "weighted"
    targets: list[Target] = field(default_factory=list)

    def primary(self) -> Target | None:
        """The target the route's strategy tries first (as evaluation prices a route)."""
        if not self.targets:
            return None
        first = min(t.priority for t in self.targets)
        level = [t for t in self.targets if t.priority == first]
        if self.strategy == "lowest_cost":
            level.sort(key=lambda t: t.input_price + t.output_price)
        return level[0]


def price(prompt_tokens: float, completion_tokens: float, input_price: float, output_price: float) -> float:
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1e6


def simulate(usage: list[Usage], routes: dict[str, RoutePrices], scenarios: list[dict], days: int) -> dict:
    """Baseline and projected monthly cost, overall and per route (see the module's docstring)."""
    if days < 1:
        raise Invalid("days is at least 1.", code="cost_bad_scenario")
    upstreams = {t.upstream for r in routes.values() for t in r.targets}
    new_prices: dict[str, tuple[float, float]] = {}
    hit_rates: dict[str, float] = {}
    shifts: dict[str, list[tuple[float, str, str | None]]] = {}
    for i, s in enumerate(scenarios):
        kind = s.get("kind")
        if kind == "price":
            if s.get("upstream") not in upstreams:
                raise Invalid(
                    "No route has that target.", code="cost_unknown_target", index=i, target=s.get("upstream")
                )
            ip, op = float(s.get("input_price", -1)), float(s.get("output_price", -1))
            if ip < 0 or op < 0:
                raise Invalid("Prices are 0 or more.", code="cost_bad_scenario", index=i)
            new_prices[s["upstream"]] = (ip, op)
            continue
        if s.get("route") not in routes:
            raise Invalid(
                f"No route {s.get('route')!r} you can see.", code="cost_unknown_route", index=i, route=s.get("route")
            )
        if kind == "cache":
            rate = float(s.get("hit_rate", -1))
            if not 0 <= rate <= 100:
                raise Invalid("A hit rate is between 0 and 100 percent.", code="cost_bad_scenario", index=i)
            hit_rates[s["route"]] = rate / 100
        elif kind == "shift":
            pct, dest, target = float(s.get("percent", -1)), s.get("to_route"), s.get("to_upstream")
            if not 0 <= pct <= 100:
                raise Invalid("A share is between 0 and 100 percent.", code="cost_bad_scenario", index=i)
            if dest not in routes:
                raise Invalid(f"No route {dest!r} you can see.", code="cost_unknown_route", index=i, route=dest)
            if target is not None and target not in {t.upstream for t in routes[dest].targets}:
                raise Invalid(
                    "The destination route has no such target.", code="cost_unknown_target", index=i, target=target
                )
            if dest == s["route"] and target is None:
                raise Invalid("Move traffic to another route or target.", code="cost_bad_scenario", index=i)
            shifts.setdefault(s["route"], []).append((pct / 100, dest, target))
        else:
            raise Invalid("A scenario's kind is shift, cache or price.", code="cost_bad_scenario", index=i)
    for route, moves in shifts.items():
        if sum(m[0] for m in moves) > 1 + 1e-9:
            raise Invalid(
                "The shares moved off a route add up to more than 100 percent.", code="cost_bad_scenario", route=route
            )

    per: dict[str, dict] = {}
    for u in usage:
        r = per.setdefault(
            u.route,
            {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "saved": 0.0, "gross": 0.0},
        )
        r["requests"] += u.requests
        r["prompt_tokens"] += u.prompt_tokens
        r["completion_tokens"] += u.completion_tokens
        r["cost"] += u.cost
        r["saved"] += u.saved_cost
        if u.upstream in new_prices:
            r["gross"] += price(u.prompt_tokens, u.completion_tokens, *new_prices[u.upstream])
        else:
            r["gross"] += u.cost + u.saved_cost

    def current_hit(route: str) -> float:
        r = per.get(route)
        return r["saved"] / (r["cost"] + r["saved"]) if r and r["cost"] + r["saved"] > 0 else 0.0

    def dest_prices(route: str, upstream: str | None) -> tuple[float, float]:
        prices = routes[route]
        t = next(t for t in prices.targets if t.upstream == upstream) if upstream else prices.primary()
        if t is None:
            return 0.0, 0.0
        return new_prices.get(t.upstream, (t.input_price, t.output_price))

    scale = MONTH_DAYS / days
    rows = []
    for route, r in sorted(per.items()):
        moves = shifts.get(route, [])
        stay = 1 - sum(m[0] for m in moves)
        y = hit_rates.get(route, current_hit(route))
        projected = stay * r["gross"] * (1 - y)
        for share, dest, target in moves:
            moved = price(r["prompt_tokens"], r["completion_tokens"], *dest_prices(dest, target))
            projected += share * moved * (1 - hit_rates.get(dest, current_hit(dest)))
        rows.append(
            {
                "route": route,
                "requests": r["requests"],
                "prompt_tokens": r["prompt_tokens"],
                "completion_tokens": r["completion_tokens"],
                "hit_rate": current_hit(route),
                "baseline": r["cost"] * scale,
                "projected": projected * scale,
                "delta": (projected - r["cost"]) * scale,
            }
        )
    baseline = sum(r["baseline"] for r in rows)
    projected = sum(r["projected"] for r in rows)
    return {
        "days": days,
        "baseline_monthly": baseline,
        "projected_monthly": projected,
        "delta": projected - baseline,
        "delta_percent": (projected - baseline) / baseline * 100 if baseline else None,
        "routes": rows,
    }


async def load(session: AsyncSession, principal: Principal, days: int) -> tuple[list[Usage], dict[str, RoutePrices]]:
    """The caller's visible usage of the last `days` per route and upstream, and the visible routes' prices."""
    where, params = usage_scope(principal)
    found = await session.execute(
        text(f"""
        SELECT u.model, u.upstream, count(*) AS requests, coalesce(sum(u.prompt_tokens), 0) AS pt,
               coalesce(sum(u.completion_tokens), 0) AS ct, coalesce(sum(u.cost), 0) AS cost,
               coalesce(sum(u.saved_cost), 0) AS saved
        FROM usage_records u
        WHERE u.created_at >= now() - make_interval(days => :days) AND {where}
        GROUP BY 1, 2"""),
        {"days": days, **params},
    )
    usage = [Usage(r.model, r.upstream, r.requests, int(r.pt), int(r.ct), float(r.cost), float(r.saved)) for r in found]
    providers = {p.id: p.name for p in (await session.scalars(select(Provider))).all()}
    routes = {}
    for route in (await session.scalars(select(Route).where(visible(principal, Route)))).all():
        targets = []
        for spec in list(route.targets or []):
            name = providers.get(_uuid(spec.get("provider_id")))
            if name is None:
                continue
            ip, op = effective_prices(spec)
            targets.append(Target(f"{name}/{spec['model']}", ip, op, int(spec.get("priority") or 0)))
        routes[route.model_name] = RoutePrices(route.strategy, targets)
    return usage, routes


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
