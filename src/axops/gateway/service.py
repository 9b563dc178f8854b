"""Gateway administration: providers and routes are data, changed through the API and applied by
every process at once (the route table reloads on NOTIFY). Every change is audited."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core import crypto, notify
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.ids import parse_uuid
from axops.gateway import semantic_cache_service as semantic_settings
from axops.gateway import transfer
from axops.gateway.models import Limit, Provider, Route
from axops.gateway.schemas import (
    LimitSet,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
    RouteCreate,
    RouteUpdate,
)
from axops.gateway.table import TOPIC, RouteTable, plan
from axops.gateway.tokens import ENCODINGS, parse_ref
from axops.registry import service as registry


def provider_out(p: Provider) -> ProviderOut:
    return ProviderOut(
        id=p.id,
        name=p.name,
        kind=p.kind,
        base_url=p.base_url,
        api_version=p.api_version,
        timeout_s=p.timeout_s,
        external=p.external,
        has_api_key=bool(p.credentials),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


async def list_providers(session: AsyncSession) -> list[Provider]:
    return list((await session.scalars(select(Provider).order_by(Provider.name))).all())


async def create_provider(session: AsyncSession, user_id: uuid.UUID, secret: str, data: ProviderCreate) -> Provider:
    provider = Provider(
        name=data.name,
        kind=data.kind,
        base_url=str(data.base_url).rstrip("/"),
        timeout_s=data.timeout_s,
        api_version=data.api_version,
        credentials=crypto.encrypt(secret, data.api_key) if data.api_key else None,
        external=data.external if data.external is not None else not transfer.internal_address(str(data.base_url)),
        created_by=user_id,
    )
    session.add(provider)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A provider named {data.name!r} exists.", code="provider_name_taken", name=data.name) from exc
    audit.record(
        session,
        "gateway.provider_create",
        resource_type="gateway_provider",
        resource_id=provider.id,
        summary={
            "name": provider.name,
            "kind": provider.kind,
            "base_url": provider.base_url,
            "external": provider.external,
            "api_key": bool(data.api_key),
        },
    )
    await notify.publish(session, TOPIC)
    await session.refresh(provider)
    return provider


async def _managed_providers(session: AsyncSession) -> set[str]:
    """Ids of the providers a deployment keeps for its replicas."""
    routes = (await session.scalars(select(Route).where(Route.managed_by.is_not(None)))).all()
    return {t.get("provider_id") for r in routes for t in r.targets}


async def _not_a_replica(session: AsyncSession, provider: Provider) -> None:
    if str(provider.id) in await _managed_providers(session):
        raise Conflict(
            f"The provider '{provider.name}' is a deployment's replica: scale, restart or undeploy the deployment instead."
        )


async def update_provider(session: AsyncSession, secret: str, provider_id: uuid.UUID, data: ProviderUpdate) -> Provider:
    provider = await session.get(Provider, provider_id, with_for_update=True)
    if provider is None:
        raise NotFound("No such provider.", code="provider_not_found")
    await _not_a_replica(session, provider)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("base_url") is not None:
        base_url = str(data.base_url).rstrip("/")
        if provider.credentials and "api_key" not in changes and _origin(base_url) != _origin(provider.base_url):
            raise Invalid(
                "Changing the provider's address needs its API key again: send api_key with the new base_url "
                "(null to drop the key).",
                field="api_key",
            )
        provider.base_url = base_url
    if changes.get("timeout_s") is not None:
        provider.timeout_s = data.timeout_s
    if "api_version" in changes:
        provider.api_version = data.api_version
    if changes.get("external") is not None:
        provider.external = data.external
    if "api_key" in changes:
        provider.credentials = crypto.encrypt(secret, data.api_key) if data.api_key else None
    await session.flush()
    audit.record(
        session,
        "gateway.provider_update",
        resource_type="gateway_provider",
        resource_id=provider.id,
        summary={"name": provider.name, "changed": sorted(changes)},
    )
    await notify.publish(session, TOPIC)
    await session.refresh(provider)
    return provider


def _origin(url: str) -> tuple:
    """Where a key goes: scheme, host and port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


async def delete_provider(session: AsyncSession, provider_id: uuid.UUID) -> None:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound("No such provider.", code="provider_not_found")
    await _not_a_replica(session, provider)
    used = [
        r.model_name
        for r in (await session.scalars(select(Route))).all()
        if any(t.get("provider_id") == str(provider_id) for t in [*r.targets, *r.fallbacks])
    ]
    if used:
        raise Conflict(
            f"Routes still use this provider: {', '.join(sorted(used))}.", code="provider_in_use", routes=sorted(used)
        )
    await session.delete(provider)
    await session.flush()
    audit.record(
        session,
        "gateway.provider_delete",
        resource_type="gateway_provider",
        resource_id=provider_id,
        summary={"name": provider.name},
    )
    await notify.publish(session, TOPIC)


async def _check_targets(session: AsyncSession, specs: list) -> None:
    ids = {t.provider_id for t in specs}
    found = set((await session.scalars(select(Provider.id).where(Provider.id.in_(ids)))).all()) if ids else set()
    if missing := ids - found:
        raise Invalid(f"Unknown provider(s): {', '.join(sorted(map(str, missing)))}.")
    if taken := {str(i) for i in ids} & await _managed_providers(session):
        raise Invalid(
            f"Provider(s) {', '.join(sorted(taken))} serve a deployment's replicas: call the deployment's model name instead.",
            field="targets",
        )
    for spec in {t.tokenizer for t in specs if t.tokenizer and t.tokenizer not in ENCODINGS}:
        name, ref = parse_ref(spec)
        try:
            _, version = await registry.resolve(session, SYSTEM, name, ref)
        except NotFound as exc:
            raise Invalid(f"Tokenizer {spec!r}: {exc.detail}", field="tokenizer") from exc
        if not any(f.path == "tokenizer.json" for f in await registry.version_files(session, version.id)):
            raise Invalid(
                f"Tokenizer {spec!r}: version {version.version} of '{name}' has no tokenizer.json.", field="tokenizer"
            )


def _dump(specs) -> list[dict]:
    return [{**t.model_dump(), "provider_id": str(t.provider_id)} for t in specs]


async def list_routes(session: AsyncSession) -> list[Route]:
    return list((await session.scalars(select(Route).order_by(Route.model_name))).all())


async def _check_team(session: AsyncSession, team_id: uuid.UUID | None) -> None:
    if team_id is not None and not await session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM teams WHERE id = :id)"), {"id": team_id}
    ):
        raise Invalid("No such team.", field="team_id")


async def create_route(session: AsyncSession, user_id: uuid.UUID, data: RouteCreate) -> Route:
    await _check_targets(session, [*data.targets, *data.fallbacks])
    await _check_team(session, data.team_id)
    await semantic_settings.check(session, data.model_name, data.team_id, data.semantic_cache)
    route = Route(
        **data.model_dump(exclude={"targets", "fallbacks", "semantic_cache"}),
        semantic_cache=data.semantic_cache.model_dump() if data.semantic_cache else None,
        targets=_dump(data.targets),
        fallbacks=_dump(data.fallbacks),
        visibility="team" if data.team_id else "organization",
        created_by=user_id,
    )
    session.add(route)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A route for {data.model_name!r} exists.", code="route_exists", model=data.model_name) from exc
    audit.record(
        session,
        "gateway.route_create",
        resource_type="gateway_route",
        resource_id=route.id,
        summary={
            "model": route.model_name,
            "strategy": route.strategy,
            "targets": len(route.targets),
            "fallbacks": len(route.fallbacks),
            "team_id": str(route.team_id) if route.team_id else None,
        },
    )
    await notify.publish(session, TOPIC)
    await session.refresh(route)
    return route


async def update_route(session: AsyncSession, route_id: uuid.UUID, data: RouteUpdate) -> Route:
    route = await session.get(Route, route_id, with_for_update=True)
    if route is None:
        raise NotFound("No such route.", code="route_not_found")
    _not_managed(route)
    changes = data.model_dump(exclude_unset=True)
    await _check_targets(session, [*(data.targets or []), *(data.fallbacks or [])])
    await _check_team(session, data.team_id)
    if "semantic_cache" in changes or "team_id" in changes:  # a new team must be allowed the embeddings route too
        semantic = data.semantic_cache if "semantic_cache" in changes else route.semantic_cache
        team = data.team_id if "team_id" in changes else route.team_id
        await semantic_settings.check(session, route.model_name, team, semantic)
    for key in changes:
        if key in ("targets", "fallbacks"):
            setattr(route, key, _dump(getattr(data, key) or []))
        elif key == "semantic_cache":
            route.semantic_cache = data.semantic_cache.model_dump() if data.semantic_cache else None
        elif key == "team_id":
            route.team_id, route.visibility = data.team_id, "team" if data.team_id else "organization"
        elif changes[key] is not None or key == "max_prompt_chars":
            setattr(route, key, changes[key])
    await session.flush()
    audit.record(
        session,
        "gateway.route_update",
        resource_type="gateway_route",
        resource_id=route.id,
        summary={"model": route.model_name, "changed": sorted(changes)},
    )
    await notify.publish(session, TOPIC)
    await session.refresh(route)
    return route


async def delete_route(session: AsyncSession, route_id: uuid.UUID) -> None:
    route = await session.get(Route, route_id)
    if route is None:
        raise NotFound("No such route.", code="route_not_found")
    _not_managed(route)
    await session.delete(route)
    await session.flush()
    audit.record(
        session,
        "gateway.route_delete",
        resource_type="gateway_route",
        resource_id=route_id,
        summary={"model": route.model_name},
    )
    await notify.publish(session, TOPIC)


def _not_managed(route: Route) -> None:
    if route.managed_by:
        raise Conflict(
            f"The route '{route.model_name}' follows {route.managed_by.replace(':', ' ')}: scale, promote or undeploy "
            "the deployment instead."
        )


async def list_limits(session: AsyncSession) -> list[Limit]:
    return list((await session.scalars(select(Limit).order_by(Limit.scope, Limit.created_at))).all())


async def set_limit(session: AsyncSession, scope: str, subject_id: uuid.UUID, data: LimitSet) -> Limit:
    table = {"key": "api_keys", "user": "users", "team": "teams"}[scope]
    if not await session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = :id)"), {"id": subject_id}):
        raise NotFound(f"No such {scope}.")
    limit = await session.scalar(
        select(Limit).where(Limit.scope == scope, Limit.subject_id == subject_id).with_for_update()
    )
    before = {k: getattr(limit, k) for k in data.model_fields} if limit else {}
    if limit is None:
        limit = Limit(scope=scope, subject_id=subject_id)
        session.add(limit)
    for key, value in data.model_dump().items():
        setattr(limit, key, value)
    await session.flush()
    audit.record(
        session,
        "gateway.limit_set",
        resource_type=f"gateway_limit_{scope}",
        resource_id=subject_id,
        summary={"before": before, "after": data.model_dump()},
    )
    await notify.publish(session, TOPIC)
    await session.refresh(limit)
    return limit


async def delete_limit(session: AsyncSession, scope: str, subject_id: uuid.UUID) -> None:
    limit = await session.scalar(select(Limit).where(Limit.scope == scope, Limit.subject_id == subject_id))
    if limit is None:
        raise NotFound("No limit is set there.")
    await session.delete(limit)
    await session.flush()
    audit.record(session, "gateway.limit_delete", resource_type=f"gateway_limit_{scope}", resource_id=subject_id)
    await notify.publish(session, TOPIC)


def dry_run(table: RouteTable, principal: Principal, model: str) -> dict:
    """Which upstreams a request for `model` would try now, in order, and why (addresses for gateway
    admins only)."""
    route = table.usable(principal, model)
    if route is None:
        raise NotFound(f"No enabled route serves '{model}'.", code="no_route", model=model)
    fallback_keys = {id(t) for t in route.fallbacks}
    order = plan(route)
    first = order[0].upstream if order else None
    reason = (
        f"strategy '{route.strategy}' over {len(route.targets)} target(s) by priority, then {len(route.fallbacks)} fallback(s); "
        + (f"{first.key} first" if first else "no upstream")
        + "; upstreams with an open circuit go last"
    )
    return {
        "model": model,
        "strategy": route.strategy,
        "reason": reason,
        "order": [
            {
                "upstream": t.upstream.key,
                "base_url": t.upstream.base_url if principal.can("gateway:admin") else None,
                "model": t.upstream.model,
                "role": "fallback" if id(t) in fallback_keys else "target",
                "circuit": t.upstream.state,
                "in_flight": t.upstream.in_flight,
                "latency_ms": t.upstream.latency_ms,
                "input_price": t.input_price,
                "output_price": t.output_price,
                "tokenizer": t.tokenizer,
            }
            for t in order
        ],
    }


async def find_route(session: AsyncSession, model_name: str) -> Route | None:
    return await session.scalar(select(Route).where(Route.model_name == model_name))


async def set_managed_route(
    session: AsyncSession,
    model_name: str,
    managed_by: str,
    upstreams: list[dict],
    canary: bool = False,
    team_id: uuid.UUID | None = None,
    visibility: str = "organization",
) -> None:
    """Keep a route (and one provider per upstream) in step with what another domain runs — a
    deployment's ready replicas. upstreams: [{"name", "base_url", "model", "weight", "credentials"}]
    (credentials: the encrypted key the upstream requires, stored as the provider's own — a provider
    found by name gets its address and key replaced together); none: the route and its providers go.
    Routes made by hand are never touched. team_id, visibility: who may call the route."""
    route = await session.scalar(select(Route).where(Route.model_name == model_name).with_for_update())
    if route is not None and route.managed_by != managed_by:
        raise Conflict(f"The gateway route '{model_name}' is not managed by {managed_by}.")
    current = {t.get("provider_id") for t in route.targets} if route else set()
    old = {
        p.name: p
        for p in (
            await session.scalars(
                select(Provider).where(Provider.id.in_([parse_uuid(x) for x in current if parse_uuid(x)]))
            )
        ).all()
    }
    providers = {}
    for u in upstreams:
        p = old.pop(u["name"], None) or await session.scalar(select(Provider).where(Provider.name == u["name"]))
        if p is None:
            p = Provider(
                name=u["name"], kind="openai", base_url=u["base_url"].rstrip("/"), timeout_s=300.0, external=False
            )
            session.add(p)
        p.base_url, p.credentials = u["base_url"].rstrip("/"), u.get("credentials")
        providers[u["name"]] = p
    await session.flush()
    targets = [
        {
            "provider_id": str(providers[u["name"]].id),
            "model": u["model"],
            "weight": round(u["weight"], 4),
            "priority": 0,
            "input_price": 0.0,
            "output_price": 0.0,
            **u.get("pricing", {}),
        }
        for u in upstreams
    ]
    action = None
    if not upstreams:
        if route is not None:
            await session.delete(route)
            action = "gateway.route_delete"
    elif route is None:
        route = Route(
            model_name=model_name,
            description=f"Managed by {managed_by}",
            strategy="weighted" if canary else "least_inflight",
            targets=targets,
            fallbacks=[],
            timeout_s=300.0,
            managed_by=managed_by,
            team_id=team_id,
            visibility=visibility,
        )
        session.add(route)
        action = "gateway.route_create"
    elif (route.targets, route.strategy, route.team_id, route.visibility) != (
        targets,
        "weighted" if canary else "least_inflight",
        team_id,
        visibility,
    ):
        route.targets, route.strategy = targets, "weighted" if canary else "least_inflight"
        route.team_id, route.visibility = team_id, visibility
        action = "gateway.route_update"
    await session.flush()
    for p in old.values():  # providers of replicas that are gone
        await session.delete(p)
    await session.flush()
    if action:
        audit.record(
            session,
            action,
            resource_type="gateway_route",
            resource_id=route.id if route else None,
            actor=SYSTEM,
            summary={
                "model": model_name,
                "managed_by": managed_by,
                "upstreams": [u["base_url"] for u in upstreams],
                "team_id": str(team_id) if team_id else None,
                "visibility": visibility,
            },
        )
    await notify.publish(session, TOPIC)


async def set_managed_access(
    session: AsyncSession, model_name: str, managed_by: str, team_id: uuid.UUID, visibility: str
) -> None:
    """Who may call a managed route, when that changes without its targets (the model's visibility)."""
    route = await session.scalar(
        select(Route).where(Route.model_name == model_name, Route.managed_by == managed_by).with_for_update()
    )
    if route is None or (route.team_id, route.visibility) == (team_id, visibility):
        return
    before = route.visibility
    route.team_id, route.visibility = team_id, visibility
    await session.flush()
    audit.record(
        session,
        "gateway.route_update",
        resource_type="gateway_route",
        resource_id=route.id,
        actor=SYSTEM,
        summary={"model": model_name, "managed_by": managed_by, "visibility": [before, visibility]},
    )
    await notify.publish(session, TOPIC)


async def transfer_managed_route(session: AsyncSession, model_name: str, old_owner: str, new_owner: str) -> None:
    route = await session.scalar(
        select(Route).where(Route.model_name == model_name, Route.managed_by == old_owner).with_for_update()
    )
    if route is not None:
        route.managed_by = new_owner
        route.description = f"Managed by {new_owner}"
        await session.flush()
