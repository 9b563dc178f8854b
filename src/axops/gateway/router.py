"""Gateway administration routes (`gateway:admin`) and the PRD's own inference endpoints. The
OpenAI-compatible `/v1` hot path lives in proxy.py."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request

from axops.auth.deps import Principal, Session, require
from axops.core.errors import AppError, Invalid, NotFound
from axops.core.state import SecretKey, SettingsDep
from axops.gateway import health, log_export, proxy, request_logs, service, usage_queries
from axops.gateway.deps import GatewayDep
from axops.gateway.schemas import (
    InferenceRequest,
    InferenceResult,
    LimitOut,
    LimitSet,
    ModelStatus,
    ModelStatusList,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
    RequestLogOut,
    RequestLogPage,
    RouteCreate,
    RouteDryRun,
    RouteOut,
    RoutePlan,
    RouteUpdate,
    UpstreamHealth,
    UsageOut,
)

router = APIRouter(prefix="/api", tags=["gateway"])
Admin = Annotated[Principal, require("gateway:admin")]
Invoker = Annotated[Principal, require("gateway:invoke")]


@router.get("/gateway/providers")
async def list_providers(_: Admin, session: Session) -> list[ProviderOut]:
    return [service.provider_out(p) for p in await service.list_providers(session)]


@router.post("/gateway/providers", status_code=201)
async def create_provider(body: ProviderCreate, principal: Admin, session: Session, secret: SecretKey) -> ProviderOut:
    """An upstream (OpenAI-compatible base URL). Its API key is encrypted at rest and never returned."""
    return service.provider_out(await service.create_provider(session, principal.user_id, secret, body))


@router.patch("/gateway/providers/{provider_id}")
async def update_provider(
    provider_id: uuid.UUID, body: ProviderUpdate, _: Admin, session: Session, secret: SecretKey
) -> ProviderOut:
    return service.provider_out(await service.update_provider(session, secret, provider_id, body))


@router.delete("/gateway/providers/{provider_id}", status_code=204)
async def delete_provider(provider_id: uuid.UUID, _: Admin, session: Session) -> None:
    await service.delete_provider(session, provider_id)


@router.get("/gateway/routes")
async def list_routes(_: Admin, session: Session, gw: GatewayDep) -> list[RouteOut]:
    """Each route with its upstreams' health as this gateway process has seen it (requests and the
    background health checks): failures in a row, circuit state, the last error and when."""
    await gw.table.ensure(gw.db, gw.secret)
    names = {p.id: p.name for p in await service.list_providers(session)}
    out = []
    for r in await service.list_routes(session):
        upstreams = health.upstream_health(gw.table, names, r)
        route_state = health.route_health(upstreams) if r.enabled else "unknown"
        seen = [UpstreamHealth(**u) for u in upstreams]
        out.append(RouteOut.model_validate(r).model_copy(update={"upstreams": seen, "health": route_state}))
    return out


@router.post("/gateway/routes", status_code=201)
async def create_route(body: RouteCreate, principal: Admin, session: Session) -> RouteOut:
    """A public model name → upstream targets (weights, priorities) and fallbacks; applied at once, no restart."""
    return RouteOut.model_validate(await service.create_route(session, principal.user_id, body))


@router.patch("/gateway/routes/{route_id}")
async def update_route(route_id: uuid.UUID, body: RouteUpdate, _: Admin, session: Session) -> RouteOut:
    return RouteOut.model_validate(await service.update_route(session, route_id, body))


@router.delete("/gateway/routes/{route_id}", status_code=204)
async def delete_route(route_id: uuid.UUID, _: Admin, session: Session) -> None:
    await service.delete_route(session, route_id)


Scope = Literal["key", "user", "team"]


@router.get("/gateway/limits")
async def list_limits(_: Admin, session: Session, gw: GatewayDep) -> list[LimitOut]:
    """Rate limits and budgets, with this month's spend where a budget is set."""
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
async def delete_limit(scope: Scope, subject_id: uuid.UUID, _: Admin, session: Session) -> None:
    await service.delete_limit(session, scope, subject_id)


Outcome = Literal["ok", "error"]


@router.get("/gateway/logs")
async def list_request_logs(
    principal: Invoker,
    session: Session,
    settings: SettingsDep,
    model: Annotated[str | None, Query(max_length=200, description="The route (model name clients send)")] = None,
    upstream: Annotated[str | None, Query(max_length=300, description="provider/model")] = None,
    api_key_id: uuid.UUID | None = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Another user's: gateway admins only")] = None,
    outcome: Annotated[Outcome | None, Query(description="error: status 400 and above")] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    content: Annotated[bool | None, Query(description="true: only requests whose text was logged")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=400, description="Text in the masked request or answer (2-200 characters; default range 7 days)"
        ),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RequestLogPage:
    """Gateway requests, newest first: status, upstream, attempts, latency, tokens, cost, and the
    request and answer text (PII-masked) of keys that log content. Yours, or everyone's for gateway
    admins. The first page says how many match."""
    page = await request_logs.request_logs(
        session,
        principal,
        cursor=cursor,
        limit=limit,
        model=model,
        upstream=upstream,
        api_key_id=api_key_id,
        user_id=user_id,
        outcome=outcome,
        status=status,
        since=since,
        until=until,
        content=content,
        q=q,
    )
    return RequestLogPage(**page, currency=settings.gateway_currency)


log_export.register(router)


@router.get("/gateway/logs/{log_id}")
async def get_request_log(log_id: uuid.UUID, principal: Invoker, session: Session) -> RequestLogOut:
    """One request (a link to it); another user's answers 404 unless you are a gateway admin."""
    item = await request_logs.request_log(session, principal, log_id)
    if item is None:
        raise NotFound("No such request.", code="request_log_not_found")
    return RequestLogOut(**item)


@router.post("/router/route")
async def route_dry_run(body: RouteDryRun, principal: Invoker, gw: GatewayDep) -> RoutePlan:
    """Which upstream would serve this request, and why — without calling it. Routes the caller may
    not use answer 404 like unknown ones; upstream addresses are shown to gateway admins only."""
    await gw.table.ensure(gw.db, gw.secret)
    return RoutePlan(**service.dry_run(gw.table, principal, body.model))


@router.get("/inference/models")
async def inference_models(principal: Invoker, gw: GatewayDep) -> list[str]:
    """The model names this caller may use through the gateway."""
    await gw.table.ensure(gw.db, gw.secret)
    return sorted(n for n, r in gw.table.routes.items() if r.usable_by(principal))


@router.get("/inference/models/status")
async def inference_model_status(principal: Invoker, gw: GatewayDep, settings: SettingsDep) -> ModelStatusList:
    """The model names this caller may use, each with its route's health (down: every upstream failing)."""
    await gw.table.ensure(gw.db, gw.secret)
    models = [ModelStatus(**m) for m in health.model_statuses(gw.table, principal)]
    return ModelStatusList(currency=settings.gateway_currency, models=models)


Bucket = Literal["hour", "day"]
GroupBy = Literal["model", "api_key", "user", "team", "upstream"]


@router.get("/metrics/usage")
async def usage(
    principal: Invoker,
    session: Session,
    settings: SettingsDep,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Bucket = "hour",
    group_by: GroupBy = "model",
    model: Annotated[str | None, Query(max_length=200)] = None,
) -> UsageOut:
    """Requests, errors, tokens, cost, p50/p95 latency and cache hits per time bucket and group
    (default: the last 24 hours). Without gateway:admin: the caller's own usage."""
    return UsageOut(
        currency=settings.gateway_currency,
        **await usage_queries.usage(
            session, principal, since=since, until=until, bucket=bucket, group_by=group_by, model=model
        ),
    )


@router.get("/metrics/model/{model_name}")
async def model_usage(
    model_name: str,
    principal: Invoker,
    session: Session,
    settings: SettingsDep,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Bucket = "hour",
) -> UsageOut:
    """One gateway model's traffic, by upstream."""
    return UsageOut(
        currency=settings.gateway_currency,
        **await usage_queries.usage(
            session, principal, since=since, until=until, bucket=bucket, group_by="upstream", model=model_name
        ),
    )


@router.get("/metrics/cost/user/{user_id}")
async def user_cost(
    user_id: uuid.UUID,
    principal: Invoker,
    session: Session,
    settings: SettingsDep,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Bucket = "day",
) -> UsageOut:
    """A user's tokens and cost by model (their own, or anyone's for gateway admins)."""
    return UsageOut(
        currency=settings.gateway_currency,
        **await usage_queries.usage(
            session, principal, since=since, until=until, bucket=bucket, group_by="model", user_id=user_id
        ),
    )


@router.post("/inference/{model_name}", responses={502: {}})
async def inference(model_name: str, body: InferenceRequest, _: Invoker, request: Request) -> InferenceResult:
    """The simple form of a chat call: text in, text and token counts out. It goes through the
    gateway like `/v1/chat/completions` (routing, limits, usage records)."""
    if (body.prompt is None) == (body.messages is None):
        raise Invalid("Give either `prompt` or `messages`.")
    messages = body.messages or [{"role": "user", "content": body.prompt}]
    if body.system:
        messages = [{"role": "system", "content": body.system}, *messages]
    payload = {
        "model": model_name,
        "messages": messages,
        **{k: v for k, v in (("max_tokens", body.max_tokens), ("temperature", body.temperature)) if v is not None},
    }
    started = time.perf_counter()
    response = await proxy.forward_json(request, payload)
    data = orjson.loads(response.body)
    if response.status_code >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        failure = AppError(error.get("message") or "The model could not answer.")
        failure.status, failure.code, failure.title = (
            response.status_code,
            error.get("code") or "upstream_error",
            "Inference failed",
        )
        raise failure
    choice = (data.get("choices") or [{}])[0]
    usage = data.get("usage") or {}
    return InferenceResult(
        model=model_name,
        text=(choice.get("message") or {}).get("content") or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        upstream=response.headers.get("x-axops-upstream"),
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )
