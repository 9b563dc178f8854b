"""Deployments: what to serve, where, how many replicas; canaries and rollback. Executors
(`axops.executors`) realise them and write their replicas' state back; ready replicas become the
targets of a gateway route named after the deployment (`routing`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import apikeys, audit
from axops.auth.deps import Principal
from axops.auth.schemas import ApiKeyCreate
from axops.auth.scoping import SYSTEM, owning_team, team_clause
from axops.core import crypto
from axops.core.errors import Conflict, Invalid, NotFound
from axops.gateway import service as gateway
from axops.gateway import usage_queries
from axops.policy import service as access_policy
from axops.registry import service as registry
from axops.serving import traffic
from axops.serving.models import Deployment
from axops.serving.routing import canary_of, model_visibility_changed, new_serve_token, sync_route
from axops.serving.schemas import DeploymentOut, DeployRequest, ReplicaOut, ScaleRequest, TrafficOut

MAX_EVENTS = 50
WEIGHT_SUFFIXES = (".safetensors", ".bin")
LOCAL_MAX_REPLICAS = 8
# Checks a deployment must pass, registered by domains above serving (governance's approvals refuse a
# production version without an approval). They run after the caller may see the version; they raise.
DeployCheck = Callable[[AsyncSession, Principal, Any, Any], Awaitable[None]]  # the model, the version
deploy_checks: list[DeployCheck] = []
# Checks before a canary takes all the traffic (its promotion; a weight stops at 99 %) and before a
# deployment's max replicas go up, also filled by governance's approvals: (deployment, what, new max).
ChangeCheck = Callable[[AsyncSession, Principal, Any, str, int | None], Awaitable[None]]
change_checks: list[ChangeCheck] = []


async def get_deployment(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, for_update: bool = False
) -> Deployment:
    q = select(Deployment).where(Deployment.id == deployment_id, team_clause(principal, Deployment.team_id))
    deployment = await session.scalar(q.with_for_update() if for_update else q)
    if deployment is None:
        raise NotFound("No such deployment.", code="deployment_not_found")
    return deployment


async def list_deployments(
    session: AsyncSession, principal: Principal, include_stopped: bool = False, model_id: uuid.UUID | None = None
) -> list[Deployment]:
    q = select(Deployment).where(team_clause(principal, Deployment.team_id)).order_by(Deployment.created_at.desc())
    if not include_stopped:
        q = q.where(Deployment.status != "stopped")
    if model_id is not None:
        q = q.where(Deployment.model_id == model_id)
    return list((await session.scalars(q.limit(500))).all())


def note(deployment: Deployment, kind: str, message: str) -> None:
    """An entry in the deployment's recent history (shown in the UI next to its status)."""
    entry = {"at": datetime.now(UTC).isoformat(), "kind": kind, "message": message}
    deployment.events = [*deployment.events[-(MAX_EVENTS - 1) :], entry]


def estimate_memory_gb(card: dict, total_size: int, gpu: bool) -> float:
    """Weights at the serving dtype (fp32 on a CPU, half precision on a GPU) plus a working margin."""
    params = card.get("parameters")
    weights = (
        params * (2 if gpu else 4) if isinstance(params, int) and params > 0 else total_size * (0.5 if gpu else 1.0)
    )
    return (weights * 1.2 + 256 * 2**20) / 2**30


async def deploy(
    session: AsyncSession,
    principal: Principal,
    secret: str,
    data: DeployRequest,
    gpus_here: int,
    kubernetes: bool = False,
) -> Deployment:
    if data.executor == "kubernetes" and not kubernetes:
        raise Invalid(
            "The Kubernetes executor is not configured here (set AXOPS_KUBERNETES_NAMESPACE); use executor 'local'."
        )
    if data.version_id is not None:
        model, version = await registry.get_version(session, principal, data.version_id)
    else:
        model, version = await registry.resolve(session, principal, data.model or "", data.ref)
    await access_policy.check_deploy(session, principal, model.name)
    if version.status != "ready" or version.artifacts_deleted_at is not None:
        raise Conflict(
            f"Version {version.version} of '{model.name}' cannot be deployed: "
            f"{'its files were deleted' if version.artifacts_deleted_at else 'it is ' + version.status}."
        )
    files = await registry.version_files(session, version.id)
    paths = {f.path for f in files}
    adapter = "adapter_config.json" in paths
    if not adapter and not any(p.endswith(WEIGHT_SUFFIXES) for p in paths):
        raise Invalid(f"Version {version.version} of '{model.name}' has no weights (no .safetensors or .bin file).")
    if adapter and version.base_version_id is None:
        raise Invalid(
            "This version is a LoRA adapter but names no base model version to serve it on.",
            code="adapter_without_base",
        )
    if "config.json" not in paths and not adapter:
        raise Invalid(
            f"Version {version.version} of '{model.name}' has no config.json.",
            code="version_without_config",
            name=model.name,
            version=version.version,
        )
    for check in deploy_checks:
        await check(session, principal, model, version)
    r = data.resources
    wants_gpu = bool(r.gpu or r.mig_profile)
    needed = estimate_memory_gb(version.card or {}, version.total_size, wants_gpu)
    if needed > r.memory_gb:
        raise Invalid(
            f"The model needs about {needed:.2f} GiB to serve ({'half precision' if wants_gpu else 'fp32 on CPU'}), "
            f"more than the {r.memory_gb:g} GiB asked for per replica.",
            code="replica_memory_too_small",
            needed_gb=round(needed, 2),
            memory_gb=r.memory_gb,
        )
    if data.executor == "local":
        if r.mig_profile:
            raise Invalid(
                "MIG slices are scheduled by Kubernetes: use executor 'kubernetes' for mig_profile.",
                code="mig_needs_kubernetes",
            )
        if r.gpu > gpus_here:
            raise Invalid(
                f"This machine has {gpus_here} GPU(s); the local executor cannot give each replica {r.gpu}.",
                code="not_enough_local_gpus",
                gpus_here=gpus_here,
                gpu=r.gpu,
            )
        if data.replicas_max > LOCAL_MAX_REPLICAS:
            raise Invalid(
                f"The local executor runs at most {LOCAL_MAX_REPLICAS} replicas.",
                code="too_many_local_replicas",
                max_replicas=LOCAL_MAX_REPLICAS,
            )
    stable = None
    if data.canary_of is not None:
        stable = await get_deployment(session, principal, data.canary_of, for_update=True)
        if stable.status not in ("ready", "degraded") or stable.canary_of is not None:
            raise Conflict(
                "A canary needs a running deployment that is not itself a canary.", code="canary_needs_stable"
            )
        if await canary_of(session, stable.id):
            raise Conflict(
                f"'{stable.name}' already has a canary: promote or roll it back first.",
                code="canary_exists",
                name=stable.name,
            )
        name = data.name or f"{stable.name[:43]}-canary"
    else:
        name = data.name or _name_from(model.name)
        route = await gateway.find_route(session, name)
        if route is not None and route.managed_by is None:
            raise Conflict(f"A gateway route named '{name}' exists (made by hand); choose another deployment name.")
    if await session.scalar(select(Deployment.id).where(Deployment.name == name, Deployment.status != "stopped")):
        raise Conflict(
            f"A deployment named '{name}' is running; undeploy it or choose another name.",
            code="deployment_name_taken",
            name=name,
        )
    # the model's team owns it; a model of another team (organisation-visible) deploys to one of the deployer's
    team_id = (
        model.team_id if principal.sees_team(model.team_id) or not principal.team_ids else owning_team(principal, None)
    )
    key = await apikeys.create_key(
        session,
        principal,
        ApiKeyCreate(
            name=f"runtime of deployment {name}"[:100],
            scopes=["models:read"],
            team_id=team_id if principal.sees_team(team_id) else None,
        ),
    )
    deployment = Deployment(
        name=name,
        team_id=team_id,
        model_id=model.id,
        version_id=version.id,
        engine=data.engine,
        executor=data.executor,
        replicas_min=data.replicas_min,
        replicas_max=data.replicas_max,
        replicas_desired=data.replicas_min,
        resources=r.model_dump(),
        autoscale_target=data.autoscale_target,
        max_batch=data.max_batch,
        canary_of=stable.id if stable else None,
        canary_weight=data.canary_weight if stable else 0,
        rollback_policy=data.rollback.model_dump() if stable else {},
        pricing=data.pricing.model_dump() if data.pricing else {},
        status="pending",
        created_by=principal.user_id,
        runtime_key=crypto.encrypt(secret, key.key),
        runtime_key_id=key.id,
        serve_token=new_serve_token(secret),
        events=[],
        replicas=[],
    )
    note(
        deployment,
        "created",
        f"{model.name} v{version.version} on {data.executor}, {data.replicas_min}–{data.replicas_max} replicas"
        + (f", canary of {stable.name} at {data.canary_weight}%" if stable else ""),
    )
    session.add(deployment)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the same name, deployed at the same moment
        raise Conflict(
            f"A deployment named '{name}' is running; undeploy it or choose another name.",
            code="deployment_name_taken",
            name=name,
        ) from exc
    audit.record(
        session,
        "deployment.create",
        resource_type="deployment",
        resource_id=deployment.id,
        team_id=team_id,
        summary={
            "name": name,
            "model": model.name,
            "version": version.version,
            "executor": data.executor,
            "replicas": [data.replicas_min, data.replicas_max],
            "resources": r.model_dump(exclude_defaults=True),
            **({"canary_of": str(stable.id), "weight": data.canary_weight} if stable else {}),
        },
    )
    await registry.record_access(session, "model.deploy", model, version=version.version, deployment=name)
    return deployment


def _name_from(model_name: str) -> str:
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c in ".-" else "-" for c in model_name.lower()).strip("-.")
    return cleaned[:50].rstrip("-.") or "model"


async def live_deployment_names(session: AsyncSession, model_id: uuid.UUID) -> list[str]:
    q = (
        select(Deployment.name)
        .where(Deployment.model_id == model_id, Deployment.status != "stopped")
        .order_by(Deployment.name)
    )
    return list((await session.scalars(q)).all())


async def refuse_if_deployed(session: AsyncSession, model_id: uuid.UUID) -> None:
    """A model with live deployments is not deleted (the registry asks, once the caller may change it)."""
    if live := await live_deployment_names(session, model_id):
        raise Conflict(
            f"The model is deployed ({', '.join(live)}): undeploy it first.", code="model_deployed", deployments=live
        )


async def scale(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, data: ScaleRequest
) -> Deployment:
    d = await _live(session, principal, deployment_id)
    if d.executor == "local" and data.replicas_max > LOCAL_MAX_REPLICAS:
        raise Invalid(f"The local executor runs at most {LOCAL_MAX_REPLICAS} replicas.")
    before = [d.replicas_min, d.replicas_max]
    if data.replicas_max > d.replicas_max:
        for check in change_checks:
            await check(session, principal, d, "scale", data.replicas_max)
    d.replicas_min, d.replicas_max = data.replicas_min, data.replicas_max
    d.replicas_desired = min(max(d.replicas_desired, d.replicas_min), d.replicas_max)
    note(d, "scaled", f"replicas {before[0]}–{before[1]} → {d.replicas_min}–{d.replicas_max}")
    await session.flush()
    audit.record(
        session,
        "deployment.scale",
        resource_type="deployment",
        resource_id=d.id,
        team_id=d.team_id,
        summary={"name": d.name, "before": before, "after": [d.replicas_min, d.replicas_max]},
    )
    return d


async def restart(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID) -> Deployment:
    """Replace every replica, one at a time (a replica is stopped once its successor is ready)."""
    d = await _live(session, principal, deployment_id)
    d.generation += 1
    if d.status == "failed":
        d.status, d.status_reason = "pending", None
    note(d, "restart", "rolling restart requested")
    await session.flush()
    audit.record(
        session,
        "deployment.restart",
        resource_type="deployment",
        resource_id=d.id,
        team_id=d.team_id,
        summary={"name": d.name},
    )
    return d


async def _live(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID) -> Deployment:
    d = await get_deployment(session, principal, deployment_id, for_update=True)
    if d.status == "stopped":
        raise Conflict(f"Deployment '{d.name}' is stopped.")
    return d


async def undeploy(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, reason: str = "undeployed"
) -> Deployment:
    d = await get_deployment(session, principal, deployment_id, for_update=True)
    if d.status == "stopped":
        return d
    if d.canary_of is None and (canary := await canary_of(session, d.id)):
        await undeploy(session, principal, canary.id, reason=f"its stable deployment '{d.name}' was undeployed")
    d.status, d.status_reason, d.stopped_at = "stopped", reason, datetime.now(UTC)
    note(d, "stopped", reason)
    if d.runtime_key_id:
        await apikeys.revoke_key_by_id(session, d.runtime_key_id)
    await session.flush()
    await sync_route(session, d.canary_of or d.id)
    audit.record(
        session,
        "deployment.delete",
        resource_type="deployment",
        resource_id=d.id,
        team_id=d.team_id,
        summary={"name": d.name, "reason": reason},
        actor=principal,
    )
    return d


async def set_canary_weight(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, weight: int
) -> Deployment:
    d = await _live(session, principal, deployment_id)
    if d.canary_of is None:
        raise Conflict("Only a canary has a traffic weight.")
    before, d.canary_weight = d.canary_weight, weight
    note(d, "weight", f"canary traffic {before}% → {weight}%")
    await session.flush()
    await sync_route(session, d.canary_of)
    audit.record(
        session,
        "deployment.canary_weight",
        resource_type="deployment",
        resource_id=d.id,
        team_id=d.team_id,
        summary={"name": d.name, "before": before, "after": weight},
    )
    return d


async def promote(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID) -> Deployment:
    """The canary takes the stable deployment's name and all its traffic; the old one stops."""
    canary = await _live(session, principal, deployment_id)
    if canary.canary_of is None:
        raise Conflict("Only a canary can be promoted.")
    if canary.status != "ready":
        raise Conflict(f"The canary is {canary.status}; promote it once it is ready.")
    for check in change_checks:
        await check(session, principal, canary, "canary", None)
    stable = await get_deployment(session, principal, canary.canary_of, for_update=True)
    name = stable.name
    stable.status, stable.status_reason, stable.stopped_at = (
        "stopped",
        f"replaced by its canary {canary.name}",
        datetime.now(UTC),
    )
    note(stable, "stopped", f"replaced by its canary (v{await registry.version_number(session, canary.version_id)})")
    await session.flush()
    canary.name, canary.canary_of, canary.canary_weight, canary.rollback_policy = name, None, 0, {}
    note(canary, "promoted", f"now serves all of '{name}'")
    await session.flush()
    await gateway.transfer_managed_route(session, name, f"deployment:{stable.id}", f"deployment:{canary.id}")
    await sync_route(session, canary.id)
    if stable.runtime_key_id:
        await apikeys.revoke_key_by_id(session, stable.runtime_key_id)
    audit.record(
        session,
        "deployment.promote",
        resource_type="deployment",
        resource_id=canary.id,
        team_id=canary.team_id,
        summary={"name": name, "replaced": str(stable.id)},
    )
    return canary


async def rollback(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, reason: str) -> Deployment:
    """Stop a canary and give its traffic back to the stable deployment (`SYSTEM`: the executor's automatic
    rollback when the canary breaks its policy)."""
    canary = await get_deployment(session, principal, deployment_id, for_update=True)
    if canary.canary_of is None:
        raise Conflict(
            "Only a canary can be rolled back; to go back to an earlier version, deploy it as a canary and promote it."
        )
    if canary.status == "stopped":
        raise Conflict("This canary is already stopped.")
    await undeploy(session, SYSTEM, canary.id, reason=f"rolled back: {reason}")
    audit.record(
        session,
        "deployment.rollback",
        resource_type="deployment",
        resource_id=canary.id,
        team_id=canary.team_id,
        summary={"name": canary.name, "reason": reason, "automatic": principal is SYSTEM},
        actor=principal,
    )
    return canary


async def live_metrics(session: AsyncSession, d: Deployment, minutes: int) -> list[dict]:
    if d.canary_of is None:
        return await usage_queries.live_series(session, d.name, minutes)
    stable = await session.get(Deployment, d.canary_of)
    return await usage_queries.live_series(
        session, stable.name if stable else d.name, minutes, upstream_prefix=f"dep-{d.id.hex[:12]}-"
    )


async def to_out(
    session: AsyncSession, deployments: list[Deployment], with_traffic: bool = False
) -> list[DeploymentOut]:
    names = await registry.version_labels(session, [d.version_id for d in deployments])
    usage = await traffic.last_hour(session, [d.id for d in deployments]) if with_traffic else {}
    quiet = {"requests": 0, "errors": 0, "p95_ms": None}
    return [
        DeploymentOut(
            id=d.id,
            name=d.name,
            team_id=d.team_id,
            model_id=d.model_id,
            model_name=names.get(d.version_id, ("?", 0))[0],
            version_id=d.version_id,
            version=names.get(d.version_id, ("?", 0))[1],
            engine=d.engine,
            executor=d.executor,
            replicas_min=d.replicas_min,
            replicas_max=d.replicas_max,
            replicas_desired=0 if d.status == "stopped" else d.replicas_desired,
            resources=d.resources,
            autoscale_target=d.autoscale_target,
            max_batch=d.max_batch,
            canary_of=d.canary_of,
            canary_weight=d.canary_weight,
            rollback_policy=d.rollback_policy,
            pricing=d.pricing,
            status=d.status,
            status_reason=d.status_reason,
            replicas=[]
            if d.status == "stopped"
            else [ReplicaOut(**{k: v for k, v in r.items() if k in ReplicaOut.model_fields}) for r in d.replicas],
            events=d.events,
            endpoint=f"/v1 model={d.name}",
            created_at=d.created_at,
            updated_at=d.updated_at,
            ready_at=d.ready_at,
            ready_seconds=d.ready_seconds,
            stopped_at=d.stopped_at,
            traffic=TrafficOut(minutes=traffic.WINDOW_MINUTES, **usage.get(traffic.upstream_key(d.id), quiet))
            if with_traffic
            else None,
        )
        for d in deployments
    ]


# The registry imports no serving: it calls these through its hooks.
registry.in_use_checks.append(refuse_if_deployed)
registry.visibility_listeners.append(model_visibility_changed)
