"""Background work of agents and workflows: ending the runs whose process died mid-run.

A run writes its state in short transactions as it goes and holds no connection in between, so a
process that dies (a crash, a kill, a deploy without drain) leaves its runs `running` with nobody
driving them. An agent run writes a step at least once per model or tool call, each bounded by the
version's `max_seconds` (≤ 1 hour) or the tool's timeout; a workflow run lasts at most its
`max_seconds` (≤ 10 minutes). A run silent for longer than `STALE_AFTER` has lost its process: it ends
`failed` with what it wrote kept, its resume state cleared and its gateway key revoked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import procrastinate
from sqlalchemy import func, select

from axops.auth import apikeys
from axops.core.logging import event
from axops.core.state import task_state

from .models import AgentRun, AgentStep
from .workflow_models import WorkflowRun

log = logging.getLogger("axops.agents")
tasks = procrastinate.Blueprint()
STALE_AFTER = timedelta(hours=2)
STOPPED = "The run's process stopped before it finished; the steps it wrote are kept."


async def fail_stale_runs(state, *, stale_after: timedelta = STALE_AFTER) -> dict[str, int]:
    now = datetime.now(UTC)
    cutoff = now - stale_after
    last_step = (
        select(func.max(AgentStep.started_at))
        .where(AgentStep.run_id == AgentRun.id)
        .correlate(AgentRun)
        .scalar_subquery()
    )
    async with state.db.sessionmaker() as session:
        agent_runs = (
            await session.scalars(
                select(AgentRun)
                .where(AgentRun.status == "running", AgentRun.created_at < cutoff)
                .where(func.coalesce(last_step, AgentRun.created_at) < cutoff)
                .with_for_update(of=AgentRun, skip_locked=True)
            )
        ).all()
        for run in agent_runs:
            run.status, run.stop_reason, run.finished_at = "failed", STOPPED[:200], now
            run.conversation = run.api_key_secret = None
            if run.api_key_id is not None:
                await apikeys.revoke_key_by_id(session, run.api_key_id)
        workflow_runs = (
            await session.scalars(
                select(WorkflowRun)
                .where(WorkflowRun.status == "running", WorkflowRun.started_at < cutoff)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for wf_run in workflow_runs:
            wf_run.status, wf_run.error, wf_run.finished_at = "failed", STOPPED, now
            if wf_run.api_key_id is not None:
                await apikeys.revoke_key_by_id(session, wf_run.api_key_id)
        await session.commit()
    done = {"agent_runs": len(agent_runs), "workflow_runs": len(workflow_runs)}
    if agent_runs or workflow_runs:
        event(log, "agents.stale_runs_failed", **done)
    return done


@tasks.periodic(cron="*/10 * * * *", periodic_id="agents-stale-runs")
@tasks.task(name="fail_stale_agent_runs", pass_context=True, queueing_lock="agents-stale-runs")
async def fail_stale_runs_task(job_context, timestamp: int) -> None:
    await fail_stale_runs(task_state(job_context))
