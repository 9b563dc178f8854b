"""Background work of quality monitoring: the sweep of every enabled monitor, every minute, and the
scores' retention, daily (monitoring_sweep.py), in `axops up` and in a standalone `axops worker` alike."""

from __future__ import annotations

import logging

import procrastinate

from axops.core.logging import event
from axops.core.state import task_state
from axops.evaluation import monitoring_sweep

log = logging.getLogger("axops.evaluation")
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="* * * * *", periodic_id="quality-monitor-sweep")
@tasks.task(name="sweep_quality_monitors", pass_context=True, queueing_lock="quality-monitor-sweep")
async def sweep_quality_monitors_task(job_context, timestamp: int) -> None:
    done = await monitoring_sweep.sweep(task_state(job_context))
    if done["judged"] or done["errors"] or done["skipped"]:
        event(log, "eval.monitors_swept", **done)


@tasks.periodic(cron="41 3 * * *", periodic_id="quality-score-retention")
@tasks.task(name="expire_quality_scores", pass_context=True, queueing_lock="quality-score-retention")
async def expire_quality_scores_task(job_context, timestamp: int) -> None:
    done = await monitoring_sweep.expire(task_state(job_context))
    if done["cleared"] or done["deleted"]:
        event(log, "eval.quality_scores_expired", **done)
