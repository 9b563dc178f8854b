"""HTTP routes of compliance reports (`/api/governance/reports`) and the governance dashboard
(`/api/governance/dashboard`). Everything needs audit:read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.errors import Invalid
from axops.core.state import SettingsDep, Storage
from axops.core.text import content_disposition
from axops.governance import governance_dashboard, reports
from axops.governance.report_schemas import GovernanceDashboard, ReportCreate, ReportOut

router = APIRouter(prefix="/api/governance", tags=["governance"])
Auditor = Annotated[Principal, require("audit:read")]
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'"


@router.post("/reports", status_code=201, responses={403: {}, 422: {}})
async def generate_report(
    body: ReportCreate, principal: Auditor, session: Session, storage: Storage, settings: SettingsDep
) -> ReportOut:
    """Generate (or regenerate) the report of a week or a month now, as HTML and PDF."""
    row = await reports.generate(session, storage, settings, principal, body.period, body.start)
    return ReportOut.model_validate(row)


@router.get("/reports", responses={403: {}})
async def list_reports(principal: Auditor, session: Session) -> list[ReportOut]:
    """The archive, newest period first (at most 100)."""
    return [ReportOut.model_validate(r) for r in await reports.list_reports(session)]


@router.get(
    "/reports/{report_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}, 403: {}, 404: {}},
)
async def download_report(
    report_id: uuid.UUID,
    principal: Auditor,
    session: Session,
    storage: Storage,
    format: Literal["html", "pdf"] = "pdf",
) -> StreamingResponse:
    row, key = await reports.download(session, report_id, format)
    name = f"compliance-{row.period}-{row.period_start.astimezone(reports.SEOUL):%Y-%m-%d}.{format}"
    size = await storage.size(key)
    return StreamingResponse(
        storage.get_stream(key),
        media_type="text/html; charset=utf-8" if format == "html" else "application/pdf",
        headers={
            "Content-Disposition": content_disposition(name),
            "Content-Length": str(size),
            "Content-Security-Policy": DOWNLOAD_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/dashboard", responses={403: {}, 422: {}})
async def dashboard(
    principal: Auditor,
    session: Session,
    settings: SettingsDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> GovernanceDashboard:
    """Violations per policy, activity by weekday × hour (Asia/Seoul), high-risk prompts, the checklist."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if not start < end or end - start > timedelta(days=366):
        raise Invalid(
            "The period must start before it ends and span at most 366 days.",
            code="governance_range_invalid",
            max_days=366,
        )
    return GovernanceDashboard.model_validate(await governance_dashboard.build(session, settings, start, end))
