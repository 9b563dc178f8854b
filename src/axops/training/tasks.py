"""Background work of training: the retention of jobs' output lines."""

from __future__ import annotations

import logging

import procrastinate
from sqlalchemy import text

from axops.core.logging import event
from axops.core.state import task_state

log = logging.getLogger("axops.training")
tasks = procrastinate.Blueprint()


async def purge_old_logs(state) -> int:
    """Delete the output lines of jobs finished more than AXOPS_TRAINING_LOG_RETENTION_DAYS ago.
    The job rows, their outcome, metrics and checkpoints stay; a running job's lines are never touched."""
    async for session in state.db.session():
        result = await session.execute(
            text(
                "DELETE FROM training_job_logs l USING training_jobs j WHERE l.job_id = j.id "
                "AND j.finished_at < now() - make_interval(days => :days)"
            ),
            {"days": state.settings.training_log_retention_days},
        )
        deleted = result.rowcount or 0
    if deleted:
        event(log, "training.logs_purged", lines=deleted)
    return deleted


@tasks.periodic(cron="29 4 * * *", periodic_id="training-log-retention")
@tasks.task(name="purge_old_logs", pass_context=True, queueing_lock="training-log-retention")
async def purge_old_logs_task(job_context, timestamp: int) -> None:
    await purge_old_logs(task_state(job_context))
