"""The system, training and data dashboards (PRD §7.3 ①③④): one read each over `from`..`to` (default the
last 24 hours; longer than 400 days: its last 400 days, `range.clipped`). `infra:read`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.monitoring import dashboards, dashboards_data, dashboards_training
from axops.monitoring.dashboard_schemas import DataDashboard, SystemDashboard, TrainingDashboard

router = APIRouter(prefix="/api/monitoring/dashboards", tags=["monitoring"])
InfraReader = Annotated[Principal, require("infra:read")]
From = Annotated[datetime | None, Query(alias="from")]


@router.get("/system", response_model_by_alias=True)
async def system(
    principal: InfraReader, session: Session, from_: From = None, to: datetime | None = None
) -> SystemDashboard:
    """GPUs and nodes now, active deployments and their replicas, the range's requests, errors and p95 (of the
    routes the caller sees), the busiest routes, and the firing alerts."""
    now = datetime.now(UTC)
    window = dashboards.bounded_range(from_, to, now)
    return SystemDashboard.model_validate(await dashboards.system(session, principal, window, now))


@router.get("/training", response_model_by_alias=True)
async def training(
    principal: InfraReader, session: Session, from_: From = None, to: datetime | None = None
) -> TrainingDashboard:
    """Outcomes of the jobs finished in the range, GPU-hours per team, queue waits (the caller's teams' jobs)."""
    now = datetime.now(UTC)
    window = dashboards.bounded_range(from_, to, now)
    return TrainingDashboard.model_validate(await dashboards_training.training(session, principal, window, now))


@router.get("/data", response_model_by_alias=True)
async def data(
    principal: InfraReader, session: Session, from_: From = None, to: datetime | None = None
) -> DataDashboard:
    """Quality of the visible datasets, PII findings and version growth in the range, and which dataset versions
    trained which models."""
    window = dashboards.bounded_range(from_, to, datetime.now(UTC))
    return DataDashboard.model_validate(await dashboards_data.data(session, principal, window))
