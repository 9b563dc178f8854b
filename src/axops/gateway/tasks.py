"""Background upkeep of the gateway: monthly partitions of the usage table."""

from __future__ import annotations

import logging

import procrastinate

from axops.core import partitions
from axops.core.logging import event
from axops.core.state import task_state
from axops.gateway import request_logs

log = logging.getLogger("axops.gateway")
tasks = procrastinate.Blueprint()


async def maintain_usage_partitions(
    engine, months_ahead: int, retention_days: int, log_retention_days: int = 90
) -> None:
    async with engine.begin() as conn:
        created = await partitions.ensure(conn, "usage_records", months_ahead)
        created += await partitions.ensure(conn, "gateway_request_logs", months_ahead)
        dropped = await partitions.drop_expired(conn, "usage_records", retention_days)
        dropped += await partitions.drop_expired(conn, "gateway_request_logs", log_retention_days)
        expired = await request_logs.expire(conn, log_retention_days)  # the boundary month's older rows
    if created or dropped or expired:
        event(log, "gateway.usage_partitions_maintained", created=created, dropped=dropped, expired_logs=expired)


@tasks.periodic(cron="23 3 * * *", periodic_id="usage-partitions")
@tasks.task(name="maintain_usage_partitions", pass_context=True, queueing_lock="usage-partitions")
async def maintain_usage_partitions_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    s = state.settings
    await maintain_usage_partitions(
        state.db.engine, s.audit_partitions_ahead, s.usage_retention_days, s.request_log_retention_days
    )
