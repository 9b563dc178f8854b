"""Every 15 seconds (procrastinate's cron takes a sixth field for seconds): one alert evaluation
cycle, committed, then delivery of the notifications it made (so a breach reaches its channels without
waiting for delivery's own sweep)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate
from sqlalchemy import text

from axops.core.logging import event
from axops.core.state import task_state
from axops.monitoring import alerts, delivery

log = logging.getLogger("axops.monitoring.alerts")
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="* * * * * */15", periodic_id="alert-evaluation")
@tasks.task(name="evaluate_alerts", pass_context=True, queueing_lock="alert-evaluation")
async def evaluate_alerts_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    now = datetime.now(UTC)
    async with state.db.sessionmaker() as session:
        # one cycle at a time across workers
        if not await session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('axops.alert_cycle'))")):
            return
        result = await alerts.run_cycle(session, now)
        await session.commit()
    if result.notifications:
        await delivery.dispatch(state.db)
    if result.notifications or result.errors:
        event(
            log, "alerts.evaluated", rules=result.rules, firing=result.firing, notifications=result.notifications,
            errors=result.errors, seconds=round(result.seconds, 3),
        )  # fmt: skip
