"""Every minute: one violation detection run (violations.detect) over the events since the last."""

from __future__ import annotations

import procrastinate

from axops.core.state import task_state
from axops.governance import violations
from axops.monitoring import delivery

tasks = procrastinate.Blueprint()
NAMESPACE = "violations"


@tasks.periodic(cron="* * * * *", periodic_id="violation-detection")
@tasks.task(name="detect_violations", pass_context=True, queueing_lock="violation-detection")
async def detect_violations_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    delivery.configure(state.secret_key, state.settings)
    await violations.detect(state.db)
