"""HTTP routes of SLOs (`/api/monitoring/slos`), the monthly SLA report (`/api/monitoring/sla-report`)
and the model dashboards (`/api/monitoring/models`). Reading needs infra:read, changing SLOs alerts:write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from axops.auth.deps import Principal, Session, require
from axops.core.text import content_disposition
from axops.monitoring import model_dashboard, sla_report, slos
from axops.monitoring.slo_schemas import ModelDashboard, ModelRow, SlaReport, SloCreate, SloOut, SloUpdate

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
Reader = Annotated[Principal, require("infra:read")]
Writer = Annotated[Principal, require("alerts:write")]
HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)


async def _out(session, slo) -> SloOut:
    return SloOut.model_validate((await slos.described(session, [slo]))[0])


@router.get("/slos")
async def list_slos(principal: Reader, session: Session, route: str | None = None) -> list[SloOut]:
    """Your teams' SLOs (every team's for an Admin) with their standing now."""
    items = await slos.list_slos(session, principal, route=route)
    return [SloOut.model_validate(d) for d in await slos.described(session, items)]


@router.post("/slos", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def create_slo(body: SloCreate, principal: Writer, session: Session) -> SloOut:
    """An availability or success-rate objective on a gateway route you can see, or a deployment's route."""
    return await _out(session, await slos.create(session, principal, body))


@router.get("/slos/{slo_id}", responses={404: {}})
async def get_slo(slo_id: uuid.UUID, principal: Reader, session: Session) -> SloOut:
    return await _out(session, await slos.get(session, principal, slo_id))


@router.patch("/slos/{slo_id}", responses={403: {}, 404: {}, 409: {}, 422: {}})
async def update_slo(slo_id: uuid.UUID, body: SloUpdate, principal: Writer, session: Session) -> SloOut:
    return await _out(session, await slos.update(session, principal, slo_id, body))


@router.delete("/slos/{slo_id}", status_code=204, responses={403: {}, 404: {}})
async def delete_slo(slo_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await slos.delete(session, principal, slo_id)


@router.get(
    "/sla-report",
    responses={
        200: {"content": {"text/html": {}, "text/csv": {}}, "description": "JSON, or HTML / CSV with `format`"},
        422: {},
    },
)
async def sla_report_for(
    principal: Reader,
    session: Session,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC)")],
    format: Literal["json", "html", "csv"] = "json",
    lang: Literal["ko", "en"] = "ko",
) -> SlaReport:
    """Per SLO of your teams: attainment over the month against its target, met or missed, budget left,
    downtime, requests and errors, the worst days and the longest incidents."""
    report = await sla_report.build(session, principal, sla_report.parse_month(month))
    if format == "json":
        return SlaReport.model_validate(report)
    if format == "html":
        return Response(  # type: ignore[return-value]
            sla_report.to_html(report, lang),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": HTML_CSP,
                "Content-Disposition": content_disposition(f"sla-{month}.html", "inline"),
            },
        )
    return Response(  # type: ignore[return-value]
        sla_report.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(f"sla-{month}.csv")},
    )


@router.get("/models")
async def list_models(principal: Reader, session: Session) -> list[ModelRow]:
    """The gateway routes you can see with their last 24 h (requests, 5xx share, p95, cost) and your SLOs' standing."""
    return [ModelRow.model_validate(r) for r in await model_dashboard.list_models(session, principal)]


@router.get("/models/{route}", responses={404: {}, 422: {}})
async def model_dashboard_for(
    route: str,
    principal: Reader,
    session: Session,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    step: Annotated[int | None, Query(ge=1, le=31_536_000)] = None,
) -> ModelDashboard:
    """Per step: QPS, error rates, latency p50/p95/p99, tokens, cost, cache hits; the same per version
    (upstream) over the range; the route's SLOs. Default: the last 24 h; at most 300 steps and 400 days
    (a longer range is cut, a small step widened)."""
    found = await model_dashboard.dashboard(session, principal, route, _utc(from_), _utc(to), step)
    return ModelDashboard.model_validate(found)
