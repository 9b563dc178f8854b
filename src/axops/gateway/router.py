"""Gateway administration routes (`gateway:admin`) and the PRD's own inference endpoints. The
OpenAI-compatible `/v1` hot path lives in proxy.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from axops.auth.deps import Principal, Session, require
from axops.gateway import metrics, service
from axops.gateway.schemas import (
    LimitOut,
    LimitSet,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
    RouteCreate,
    RouteDryRun,
    RouteOut,
    RoutePlan,
    RouteUpdate,
    UsageOut,
)

router = APIRouter(prefix="/api", tags=["gateway"])
Admin = Annotated[Principal, require("gateway:admin")]
Invoker = Annotated[Principal, require("gateway:invoke")]


@router.get("/gateway/providers")
async def list_providers(_: Admin, session: Session) -> list[ProviderOut]:
    return [service.provider_out(p) for p in await service.list_providers(session)]


@router.post("/gateway/providers", status_code=201)
async def create_provider(body: ProviderCreate, principal: Admin, session: Session, request: Request) -> ProviderOut:
    """An upstream (OpenAI-compatible base URL). Its API key is encrypted at rest and never returned."""
    return service.provider_out(await service.create_provider(session, principal.user_id, request.app.state.secret_key, body))


@router.patch("/gateway/providers/{provider_id}")
async def update_provider(provider_id: uuid.UUID, body: ProviderUpdate, _: Admin, session: Session, request: Request) -> ProviderOut:
    return service.provider_out(await service.update_provider(session, request.app.state.secret_key, provider_id, body))


@router.delete("/gateway/providers/{provider_id}", status_code=204)
async def delete_provider(provider_id: uuid.UUID, _: Admin, session: Session) -> Response:
    await service.delete_provider(session, provider_id)
    return Response(status_code=204)


@router.get("/gateway/routes")
async def list_routes(_: Admin, session: Session) -> list[RouteOut]:
    return [RouteOut.model_validate(r) for r in await service.list_routes(session)]


@router.post("/gateway/routes", status_code=201)
async def create_route(body: RouteCreate, principal: Admin, session: Session) -> RouteOut:
    """A public model name → upstream targets (weights, priorities) and fallbacks; applied at once, no restart."""
    return RouteOut.model_validate(await service.create_route(session, principal.user_id, body))


@router.patch("/gateway/routes/{route_id}")
async def update_route(route_id: uuid.UUID, body: RouteUpdate, _: Admin, session: Session) -> RouteOut:
    return RouteOut.model_validate(await service.update_route(session, route_id, body))


@router.delete("/gateway/routes/{route_id}", status_code=204)
async def delete_route(route_id: uuid.UUID, _: Admin, session: Session) -> Response:
    await service.delete_route(session, route_id)
    return Response(status_code=204)


Scope = Literal["key", "user", "team"]


@router.get("/gateway/limits")
async def list_limits(_: Admin, session: Session, request: Request) -> list[LimitOut]:
    """Rate limits and budgets, with this month's spend where a budget is set."""
    gw = request.app.state.gateway
    await gw.limits.refresh_spend(gw.db)
    out = []
    for limit in await service.list_limits(session):
        policy = gw.limits.policies.get((limit.scope, limit.subject_id))
        spent = gw.limits.spend_of(policy) if policy and limit.monthly_budget is not None else None
        out.append(LimitOut.model_validate(limit).model_copy(update={"spent_this_month": spent}))
    return out


@router.put("/gateway/limits/{scope}/{subject_id}")
async def set_limit(scope: Scope, subject_id: uuid.UUID, body: LimitSet, _: Admin, session: Session) -> LimitOut:
    """Requests and tokens per minute and a monthly budget for an API key, a user or a team."""
    return LimitOut.model_validate(await service.set_limit(session, scope, subject_id, body))


@router.delete("/gateway/limits/{scope}/{subject_id}", status_code=204)
async def delete_limit(scope: Scope, subject_id: uuid.UUID, _: Admin, session: Session) -> Response:
    await service.delete_limit(session, scope, subject_id)
    return Response(status_code=204)


@router.post("/router/route")
async def route_dry_run(body: RouteDryRun, _: Invoker, request: Request) -> RoutePlan:
    """Which upstream would serve this request, and why — without calling it."""
    gw = request.app.state.gateway
    await gw.table.ensure(gw.db, gw.secret)
    return RoutePlan(**service.dry_run(gw.table, body.model))


@router.get("/inference/models")
async def inference_models(principal: Invoker, request: Request) -> list[str]:
    """The model names this caller may use through the gateway."""
    gw = request.app.state.gateway
    await gw.table.ensure(gw.db, gw.secret)
    return sorted(n for n in gw.table.routes if principal.may_use_model(n))


Bucket = Literal["hour", "day"]
GroupBy = Literal["model", "api_key", "user", "team", "upstream"]


@router.get("/metrics/usage")
async def usage(
    principal: Invoker, session: Session, since: datetime | None = None, until: datetime | None = None, bucket: Bucket = "hour",
    group_by: GroupBy = "model", model: Annotated[str | None, Query(max_length=200)] = None,
) -> UsageOut:  # fmt: skip
    """Requests, errors, tokens, cost, p50/p95 latency and cache hits per time bucket and group
    (default: the last 24 hours). Without gateway:admin: the caller's own usage."""
    return UsageOut(**await metrics.usage(session, principal, since=since, until=until, bucket=bucket, group_by=group_by, model=model))


@router.get("/metrics/model/{model_name}")
async def model_usage(model_name: str, principal: Invoker, session: Session, since: datetime | None = None,
                      until: datetime | None = None, bucket: Bucket = "hour") -> UsageOut:  # fmt: skip
    """One gateway model's traffic, by upstream."""
    return UsageOut(**await metrics.usage(session, principal, since=since, until=until, bucket=bucket, group_by="upstream",
                                          model=model_name))  # fmt: skip


@router.get("/metrics/cost/user/{user_id}")
async def user_cost(user_id: uuid.UUID, principal: Invoker, session: Session, since: datetime | None = None,
                    until: datetime | None = None, bucket: Bucket = "day") -> UsageOut:  # fmt: skip
    """A user's tokens and cost by model (their own, or anyone's for gateway admins)."""
    return UsageOut(**await metrics.usage(session, principal, since=since, until=until, bucket=bucket, group_by="model",
                                          user_id=user_id))  # fmt: skip
