"""Reads of workflow runs: a workflow's runs (newest first, paged) and each workflow's last run, for the
list's "last run" column. Runs are written by workflows.run_workflow."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from axops.agents import workflows
from axops.agents.workflow_models import WorkflowRun
from axops.auth.deps import Principal
from axops.core.pagination import page_of, paginate_desc


async def list_runs(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[WorkflowRun], str | None]:
    wf = await workflows.get_workflow(session, principal, workflow_id)  # 404 for another team's
    query = select(WorkflowRun).where(WorkflowRun.workflow_id == wf.id)
    rows = list(
        (await session.scalars(paginate_desc(query, WorkflowRun.started_at, WorkflowRun.id, cursor, limit))).all()
    )
    return page_of(rows, limit, key=lambda r: (r.started_at, r.id))


async def last_runs(session: AsyncSession, workflow_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, datetime]]:
    """The status and start of the newest run of each of these workflows (read with the caller's scope)."""
    if not workflow_ids:
        return {}
    rows = await session.execute(
        select(WorkflowRun.workflow_id, WorkflowRun.status, WorkflowRun.started_at)
        .where(WorkflowRun.workflow_id.in_(workflow_ids))
        .ext(distinct_on(WorkflowRun.workflow_id))
        .order_by(WorkflowRun.workflow_id, WorkflowRun.started_at.desc(), WorkflowRun.id.desc())
    )
    return {wid: (status, started) for wid, status, started in rows}
