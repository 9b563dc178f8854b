"""Drift per route and usage anomalies per key and user over HTTP (infra:read to read).

Drift: routes the caller sees (their teams' and organisation-wide; Admins and gateway admins all).
Anomalies: Admins and gateway admins see all; others those of their own user and their own keys.
Pinning a reference and acknowledging need alerts:write; running the jobs on demand gateway:admin."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.core.state import State
from axops.monitoring import anomalies, drift_features
from axops.monitoring.drift_schemas import (
    AnomalyKind,
    AnomalyOut,
    AnomalyRunOut,
    DriftReferenceIn,
    DriftReferenceOut,
    DriftResultOut,
    DriftRouteOut,
    DriftRunIn,
    DriftRunOut,
)

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
InfraReader = Annotated[Principal, require("infra:read")]
AlertsWriter = Annotated[Principal, require("alerts:write")]
GatewayAdmin = Annotated[Principal, require("gateway:admin")]
RouteName = Annotated[str, Query(max_length=200)]


@router.get("/drift")
async def drift_list(principal: InfraReader, session: Session, route: RouteName | None = None) -> list[DriftResultOut]:
    """The newest result per route, feature and test."""
    return [DriftResultOut.model_validate(r) for r in await drift_features.latest(session, principal, route)]


@router.post("/drift/run")
async def drift_run(
    principal: GatewayAdmin, session: Session, state: State, body: DriftRunIn | None = None
) -> DriftRunOut:
    """Run the drift job now (the worker runs it every hour)."""
    body = body or DriftRunIn()
    window = timedelta(hours=body.window_hours)
    results = await drift_features.run(session, window=window, route=body.route, gw=state.gateway)
    return DriftRunOut(results=len(results), routes=sorted({r.route for r in results}))


@router.put("/drift/{route:path}/reference")
async def drift_reference(
    route: str, body: DriftReferenceIn, principal: AlertsWriter, session: Session
) -> DriftReferenceOut:
    """Pin the route's reference window (both null: back to the 7 days before the current window)."""
    return DriftReferenceOut.model_validate(
        await drift_features.set_reference(session, principal, route, body.start, body.end)
    )


@router.get("/drift/{route:path}")
async def drift_route(
    route: str, principal: InfraReader, session: Session, days: Annotated[int, Query(ge=1, le=90)] = 7
) -> DriftRouteOut:
    """A route's newest results, their history over `days` days and its reference window."""
    return DriftRouteOut.model_validate(await drift_features.detail(session, principal, route, days))


@router.get("/anomalies")
async def anomaly_list(
    principal: InfraReader,
    session: Session,
    kind: AnomalyKind | None = None,
    open: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[AnomalyOut]:
    """Newest first; `open=true` only unacknowledged ones."""
    rows = await anomalies.list_anomalies(session, principal, kind, open, limit)
    return [AnomalyOut.model_validate(r) for r in rows]


@router.post("/anomalies/run")
async def anomaly_run(principal: GatewayAdmin, session: Session) -> AnomalyRunOut:
    """Run the anomaly job now (the worker runs it every 5 minutes)."""
    return AnomalyRunOut(changed=await anomalies.detect(session))


@router.post("/anomalies/{anomaly_id}/ack")
async def anomaly_ack(anomaly_id: uuid.UUID, principal: AlertsWriter, session: Session) -> AnomalyOut:
    """Acknowledge an anomaly (audited); acknowledging twice changes nothing."""
    return AnomalyOut.model_validate(await anomalies.acknowledge(session, principal, anomaly_id))
