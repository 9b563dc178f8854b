"""Every 15 seconds: send due alert deliveries (delivery.dispatch). The alert engine also calls
dispatch right after it stores notifications; this task picks up retries and anything missed."""

from __future__ import annotations

import procrastinate

from axops.core.state import task_state
from axops.monitoring import delivery

tasks = procrastinate.Blueprint()


# croniter's sixth field is seconds: at :00, :15, :30 and :45 of every minute.
@tasks.periodic(cron="* * * * * */15", periodic_id="alert-delivery")
@tasks.task(name="dispatch_alerts", pass_context=True, queueing_lock="alert-delivery")
async def dispatch_alerts_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    delivery.configure(state.secret_key, state.settings)
    await delivery.dispatch(state.db)
