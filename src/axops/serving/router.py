"""HTTP routes of model serving (deployments)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.errors import NotFound
from axops.core.state import State, state_of
from axops.serving import logs as replica_logs
from axops.serving import service
from axops.serving.schemas import (
    CanaryWeight,
    DeploymentMetrics,
    DeploymentOut,
    DeployRequest,
    LogLines,
    ScaleRequest,
)

router = APIRouter(prefix="/api/serving", tags=["serving"])
Reader = Annotated[Principal, require("deployments:read")]
Writer = Annotated[Principal, require("deployments:write")]


async def _one(session, d) -> DeploymentOut:
    await session.refresh(d)  # server-set columns (updated_at) after a change
    return (await service.to_out(session, [d]))[0]


@router.post("/deploy", status_code=201)
async def deploy(body: DeployRequest, principal: Writer, session: Session, state: State) -> DeploymentOut:
    """Serve a model version (or `model` + `ref`: a version number, an alias such as production, or latest).
    The executor starts its replicas; once one is ready the deployment's name works at `/v1`."""
    d = await service.deploy(
        session,
        principal,
        state.secret_key,
        body,
        gpus_here=state.gpus_here,
        kubernetes=state.kubernetes_enabled,
    )
    return await _one(session, d)


@router.get("/deployments")
async def list_deployments(
    principal: Reader, session: Session, include_stopped: bool = False, model_id: uuid.UUID | None = None
) -> list[DeploymentOut]:
    """Newest first, each with its last hour of traffic (requests, server errors, p95 latency)."""
    deployments = await service.list_deployments(session, principal, include_stopped, model_id)
    return await service.to_out(session, deployments, with_traffic=True)


@router.get("/deployments/{deployment_id}")
async def get_deployment(deployment_id: uuid.UUID, principal: Reader, session: Session) -> DeploymentOut:
    return await _one(session, await service.get_deployment(session, principal, deployment_id))


@router.post("/deployments/{deployment_id}/scale")
async def scale(deployment_id: uuid.UUID, body: ScaleRequest, principal: Writer, session: Session) -> DeploymentOut:
    return await _one(session, await service.scale(session, principal, deployment_id, body))


@router.post("/deployments/{deployment_id}/restart")
async def restart(deployment_id: uuid.UUID, principal: Writer, session: Session) -> DeploymentOut:
    """Replace every replica, one at a time."""
    return await _one(session, await service.restart(session, principal, deployment_id))


@router.delete("/deployments/{deployment_id}")
async def undeploy(deployment_id: uuid.UUID, principal: Writer, session: Session) -> DeploymentOut:
    """Stop the replicas and take the name off the gateway (a canary of it goes too)."""
    return await _one(session, await service.undeploy(session, principal, deployment_id))


@router.put("/deployments/{deployment_id}/canary/weight")
async def set_canary_weight(
    deployment_id: uuid.UUID, body: CanaryWeight, principal: Writer, session: Session
) -> DeploymentOut:
    return await _one(session, await service.set_canary_weight(session, principal, deployment_id, body.weight))


@router.post("/deployments/{deployment_id}/promote")
async def promote(deployment_id: uuid.UUID, principal: Writer, session: Session) -> DeploymentOut:
    """The canary takes over the stable deployment's name and all its traffic."""
    return await _one(session, await service.promote(session, principal, deployment_id))


@router.post("/deployments/{deployment_id}/rollback")
async def rollback(deployment_id: uuid.UUID, principal: Writer, session: Session) -> DeploymentOut:
    """Stop a canary; its traffic goes back to the stable deployment."""
    return await _one(session, await service.rollback(session, principal, deployment_id, "rolled back by hand"))


@router.get("/deployments/{deployment_id}/metrics")
async def deployment_metrics(
    deployment_id: uuid.UUID, principal: Reader, session: Session, minutes: Annotated[int, Query(ge=5, le=24 * 60)] = 60
) -> DeploymentMetrics:
    """Per-minute traffic through the gateway (a canary: the part its replicas answered)."""
    d = await service.get_deployment(session, principal, deployment_id)
    return DeploymentMetrics(name=d.name, minutes=minutes, series=await service.live_metrics(session, d, minutes))


@router.get("/deployments/{deployment_id}/logs", responses={200: {"content": {"text/event-stream": {}}}})
async def logs(
    deployment_id: uuid.UUID,
    principal: Reader,
    session: Session,
    request: Request,
    replica: Annotated[int, Query(ge=0, le=99)] = 0,
    tail: Annotated[int, Query(ge=1, le=5000)] = 200,
    follow: bool = False,
) -> LogLines:
    """A replica's log (local executor): the last `tail` lines, or with `follow=true` a stream of
    server-sent events, one line each, as they are written."""
    d = await service.get_deployment(session, principal, deployment_id)
    work_dir = state_of(request).serving_dir
    if d.executor != "local":
        raise NotFound("Logs of Kubernetes deployments are read with kubectl logs (deployment axops-<name>).")
    lines = replica_logs.read_log(work_dir, d.id, replica, tail)
    if not follow:
        return LogLines(replica=replica, lines=lines)
    await session.close()
    return StreamingResponse(
        replica_logs.follow(work_dir, d.id, replica, lines, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )
