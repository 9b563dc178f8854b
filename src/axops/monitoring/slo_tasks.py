"""Every minute: each route's health as this process's gateway probes it (`gateway_route_up` {route}:
1 up, 0 down; routes not probed nor called yet are skipped), and each SLO's error budget remaining
(`slo_error_budget_remaining` {slo: id, route}, clamped to 0..1) into the metric history, so alert
rules can watch them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate
from sqlalchemy import select

from axops.core.logging import event
from axops.core.state import task_state
from axops.gateway.health import route_health
from axops.monitoring import slos, store
from axops.monitoring.slo_models import Slo

log = logging.getLogger("axops.monitoring")
tasks = procrastinate.Blueprint()


def probe_points(gateway, now: datetime) -> list[store.Point]:
    """The route table's health as points: down (no upstream healthy, one failing or open) is 0."""
    if gateway is None:
        return []
    minute = slos.floor_minute(now)
    points: list[store.Point] = []
    for name, route in gateway.table.routes.items():
        health = route_health([{"health": t.upstream.health} for t in (*route.targets, *route.fallbacks)])
        if health != "unknown":
            points.append((slos.PROBE_SERIES, {"route": name}, minute, 0.0 if health == "down" else 1.0))
    return points


async def budget_points(session, now: datetime) -> list[store.Point]:
    items = list(await session.scalars(select(Slo)))
    standing = await slos.statuses(session, items, now)
    points: list[store.Point] = []
    for slo in items:
        remaining = standing[slo.id]["budget_remaining"]
        points.append(
            (
                slos.BUDGET_SERIES,
                {"slo": str(slo.id), "route": slo.route},
                slos.floor_minute(now),
                min(1.0, max(0.0, remaining)),
            )
        )
    return points


async def record(db, gateway, now: datetime) -> tuple[int, int]:
    """This minute's probe points, then every SLO's budget (the probes already counted); returns how many."""
    async with db.sessionmaker() as session:
        points = probe_points(gateway, now)
        await store.write(session, points)
        await session.commit()
        budgets = await budget_points(session, now)
        await store.write(session, budgets)
        await session.commit()
    return len(points), len(budgets)


@tasks.periodic(cron="* * * * *", periodic_id="slo-status")
@tasks.task(name="record_slos", pass_context=True, queueing_lock="slo-status")
async def record_slos_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    probes, budgets = await record(state.db, state.gateway, datetime.now(UTC))
    event(log, "monitoring.slos_recorded", probes=probes, slos=budgets)
