"""Background work of evaluation: executing a queued run (runner.py) in the worker, so runs work in
`axops up` and in a standalone `axops worker` alike."""

from __future__ import annotations

import logging
import uuid

import procrastinate

from axops.core.state import task_state

log = logging.getLogger("axops.evaluation")
tasks = procrastinate.Blueprint()


@tasks.task(name="execute_run", pass_context=True, retry=0)
async def execute_run_task(job_context, run_id: str) -> None:
    from axops.evaluation import runner

    await runner.execute(task_state(job_context), uuid.UUID(run_id))
