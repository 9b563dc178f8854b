"""Every 15 s (PRD §9.1: collection delay ≤ 15 s): the gateway's usage, this node's GPUs, the
replicas' runtime metrics, deployments' replica counts and training jobs into the metric history,
then the rollups; once a day the retention. Procrastinate's cron takes a sixth field for seconds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import procrastinate

from axops.core.logging import event
from axops.core.state import task_state
from axops.monitoring import collector, sources, sources_platform, store

log = logging.getLogger("axops.monitoring")
# Rolling up 3 h of 1,000 series every 15 s costs seconds (bench/monitoring): the recent quarter hour
# each run, the full 3 h look-back once an hour (late points into older minutes).
ROLLUP_RECENT = timedelta(minutes=15)
ROLLUP_FULL = timedelta(hours=3)
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="* * * * * */15", periodic_id="metric-history")
@tasks.task(name="collect_metrics", pass_context=True, queueing_lock="metric-history")
async def collect_metrics_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    now = datetime.now(UTC)
    async with state.db.sessionmaker() as session:
        written = await collector.collect_gateway(session, now)
        written += await sources.collect_gpus(session, now)
        written += await sources.collect_replicas(session, now)
        written += await sources_platform.collect_deployments(session, now)
        written += await sources_platform.collect_training(session, now)
        await store.rollup(session, now, lookback=ROLLUP_FULL if now.minute == 0 and now.second < 15 else ROLLUP_RECENT)
        deleted = await store.apply_retention_daily(session, now)
        await session.commit()
    if deleted:  # every run writes points: only the daily retention is worth a line
        event(log, "monitoring.collected", points=written, deleted=deleted)


# The 15-second tasks (this one, alert evaluation and delivery) leave about 17,000 finished job rows a day.
FINISHED_JOBS_KEPT_HOURS = 24


@tasks.periodic(cron="29 * * * *", periodic_id="finished-jobs")
@tasks.task(name="remove_finished_jobs", pass_context=True, queueing_lock="finished-jobs")
async def remove_finished_jobs_task(job_context, timestamp: int) -> None:
    """Delete the task queue's succeeded jobs older than a day (failed ones stay for inspection)."""
    await job_context.app.job_manager.delete_old_jobs(nb_hours=FINISHED_JOBS_KEPT_HOURS)
