"""Scheduled compliance reports: the past week's every Monday, the past month's on the 1st (01:10 Asia/Seoul,
16:10 UTC the day before). Idempotent: a period already archived is kept."""

from __future__ import annotations

import logging

import procrastinate

from axops.auth.scoping import SYSTEM
from axops.core.logging import event
from axops.core.state import AppState, task_state
from axops.governance import reports

log = logging.getLogger("axops.governance")
tasks = procrastinate.Blueprint()


async def run_scheduled(state: AppState, period: str) -> None:
    async with state.db.sessionmaker() as session:
        row = await reports.generate(session, state.storage, state.settings, SYSTEM, period, replace=False)
        await session.commit()
    event(log, "governance.report_scheduled", period=period, report_id=str(row.id))


@tasks.periodic(cron="10 16 * * 0", periodic_id="compliance-report-week")
@tasks.task(name="weekly_compliance_report", pass_context=True, queueing_lock="compliance-report-week")
async def weekly_report_task(job_context, timestamp: int) -> None:
    await run_scheduled(task_state(job_context), "week")


# 01:10 Seoul on the 29th … the 1st: only the 1st finds a month not archived yet (the others are no-ops).
@tasks.periodic(cron="10 16 28-31 * *", periodic_id="compliance-report-month")
@tasks.task(name="monthly_compliance_report", pass_context=True, queueing_lock="compliance-report-month")
async def monthly_report_task(job_context, timestamp: int) -> None:
    await run_scheduled(task_state(job_context), "month")
