"""Every minute: the gateway's usage, this node's GPUs and the replicas' runtime metrics into the
metric history, then the rollups; once a day the retention."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate

from axops.core.logging import event
from axops.core.state import task_state
from axops.monitoring import collector, sources, store

log = logging.getLogger("axops.monitoring")
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="* * * * *", periodic_id="metric-history")
@tasks.task(name="collect_metrics", pass_context=True, queueing_lock="metric-history")
async def collect_metrics_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    now = datetime.now(UTC)
    async with state.db.sessionmaker() as session:
        written = await collector.collect_gateway(session, now)
        written += await sources.collect_gpus(session, now)
        written += await sources.collect_replicas(session, now)
        await store.rollup(session, now)
        deleted = await store.apply_retention_daily(session, now)
        await session.commit()
    if written or deleted:
        event(log, "monitoring.collected", points=written, deleted=deleted)
