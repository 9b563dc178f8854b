"""Periodic drift (every hour) and usage-anomaly (every 5 minutes) jobs."""

from __future__ import annotations

import logging

import procrastinate

from axops.core.logging import event
from axops.core.state import task_state
from axops.monitoring import anomalies, drift_features

log = logging.getLogger("axops.monitoring")
tasks = procrastinate.Blueprint()
NAMESPACE = "monitoring_drift"


@tasks.periodic(cron="7 * * * *", periodic_id="drift")
@tasks.task(name="drift", pass_context=True, queueing_lock="drift")
async def drift_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        results = await drift_features.run(session, gw=state.gateway)
        await session.commit()
    drifted = sorted({(r.route, r.feature) for r in results if r.severity == "drifted"})
    event(log, "monitoring.drift", results=len(results), drifted=[f"{r}/{f}" for r, f in drifted][:20])


@tasks.periodic(cron="*/5 * * * *", periodic_id="usage-anomalies")
@tasks.task(name="usage_anomalies", pass_context=True, queueing_lock="usage-anomalies")
async def anomalies_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        changed = await anomalies.detect(session)
        await session.commit()
    if changed:
        event(log, "monitoring.anomalies", changed=changed)
