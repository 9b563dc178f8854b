"""Upstream health as people see it: the circuit-breaker state and last error the hot path keeps on
each `table.Upstream` (failures counted by calls and by the health loop's probes, state.py), read
for the routes list, the Playground's model list and the home page. Addresses stay with gateway
admins; an upstream's own error text is never shown, only its kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from axops.auth.deps import Principal
from axops.core.ids import parse_uuid
from axops.gateway.models import Route
from axops.gateway.table import RouteTable


def unhealthy_upstreams(table: RouteTable, principal: Principal) -> list[dict]:
    """Upstreams with recent failures or a circuit not closed, each with the routes (of those the
    caller may use) that send to it; open circuits first, then by failures."""
    found: dict[str, dict] = {}
    for route in table.routes.values():
        if not route.usable_by(principal):
            continue
        for target in (*route.targets, *route.fallbacks):
            up = target.upstream
            if up.failures == 0 and up.state == "closed":
                continue
            entry = found.setdefault(
                up.key,
                {
                    "upstream": up.key,
                    "provider": up.provider,
                    "model": up.model,
                    "circuit": up.state,
                    "failures": up.failures,
                    "routes": [],
                },
            )
            if route.model_name not in entry["routes"]:
                entry["routes"].append(route.model_name)
    order = {"open": 0, "half_open": 1, "closed": 2}
    return sorted(found.values(), key=lambda e: (order[e["circuit"]], -e["failures"], e["upstream"]))


def _at(wall: float | None) -> datetime | None:
    return datetime.fromtimestamp(wall, UTC) if wall is not None else None


def upstream_health(table: RouteTable, names: dict[uuid.UUID, str], route: Route) -> list[dict]:
    """Each target's and fallback's upstream as this process has seen it (upstreams not called nor
    probed yet, or of a disabled route, answer `unknown`)."""
    out = []
    for role, specs in (("target", route.targets), ("fallback", route.fallbacks)):
        for spec in specs:
            key = f"{names.get(parse_uuid(spec.get('provider_id')), '?')}/{spec.get('model')}"
            up = table.upstreams.get(key)
            out.append(
                {
                    "upstream": key,
                    "role": role,
                    "health": up.health if up else "unknown",
                    "failures": up.failures if up else 0,
                    "last_error": up.last_error if up else None,
                    "last_error_status": up.last_error_status if up else None,
                    "last_error_at": _at(up.last_error_at) if up else None,
                    "last_ok_at": _at(up.last_ok_at) if up else None,
                }
            )
    return out


def route_health(upstreams: list[dict]) -> str:
    """down: no upstream healthy and at least one failing or open; degraded: some failing or open;
    unknown: nothing seen yet; else healthy."""
    states = [u["health"] for u in upstreams]
    bad = [s for s in states if s in ("failing", "open", "half_open")]
    if not bad:
        return "healthy" if "healthy" in states else "unknown"
    return "degraded" if "healthy" in states else "down"


def model_statuses(table: RouteTable, principal: Principal) -> list[dict]:
    """The models this caller may use, each with its route's health (the Playground marks dead ones)."""
    return [
        {
            "name": name,
            "health": route_health([{"health": t.upstream.health} for t in [*route.targets, *route.fallbacks]]),
        }
        for name, route in sorted(table.routes.items())
        if route.usable_by(principal)
    ]
