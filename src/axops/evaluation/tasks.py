"""Background work of evaluation: executing a queued run (runner.py) in the worker, so runs work in
`axops up` and in a standalone `axops worker` alike; and marking runs whose worker died as failed."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import procrastinate
from sqlalchemy import select

from axops.auth import apikeys
from axops.core.logging import event
from axops.core.state import task_state
from axops.evaluation.models import EvalRun

log = logging.getLogger("axops.evaluation")
tasks = procrastinate.Blueprint()
# A run still `running` this long after it started has lost its worker (its key has expired too).
STALE_AFTER = timedelta(hours=24)


@tasks.task(name="execute_run", pass_context=True, retry=0)
async def execute_run_task(job_context, run_id: str) -> None:
    from axops.evaluation import runner

    await runner.execute(task_state(job_context), uuid.UUID(run_id))


@tasks.periodic(cron="*/10 * * * *", periodic_id="eval-stale-runs")
@tasks.task(name="fail_stale_runs", pass_context=True, queueing_lock="eval-stale-runs")
async def fail_stale_runs_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    now = datetime.now(UTC)
    async with state.db.sessionmaker() as session:
        stale = (
            await session.scalars(
                select(EvalRun)
                .where(EvalRun.status == "running", EvalRun.started_at < now - STALE_AFTER)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for run in stale:
            run.status, run.finished_at = "failed", now
            run.error = "The run's worker stopped before it finished; its partial results are kept."
            run.api_key_secret = None
            if run.api_key_id is not None:
                await apikeys.revoke_key_by_id(session, run.api_key_id)
        await session.commit()
    if stale:
        event(log, "eval.stale_runs_failed", count=len(stale))
