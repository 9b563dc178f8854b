"""Which upstreams of the routes a caller may use are failing now: the circuit-breaker state the
hot path keeps on each `table.Upstream` (failures counted by calls and by the health loop's probes,
state.py). The one reading of that state for people; addresses stay with gateway admins."""

from __future__ import annotations

from axops.auth.deps import Principal
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
