"""Background upkeep of prompts: the stop rules of running A/B experiments (maximum duration and
samples, automatic promotion), checked every minute as well as whenever results are read."""

from __future__ import annotations

import logging

import procrastinate

from axops.core.logging import event
from axops.core.state import task_state
from axops.prompts import experiments

log = logging.getLogger("axops.prompts")
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="* * * * *", periodic_id="prompt-experiment-rules")
@tasks.task(name="check_experiment_rules", pass_context=True, queueing_lock="prompt-experiment-rules")
async def check_experiment_rules_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        ended = await experiments.sweep(session)
        await session.commit()
    if ended:
        event(log, "prompt.experiments_ended", count=ended)
