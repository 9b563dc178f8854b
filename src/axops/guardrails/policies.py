"""Guardrail policies: create, change, delete (policies:admin, audited), which apply to a caller,
and the in-process cache the gateway reads on every request, reloaded on NOTIFY (topic
`guardrails`) the way the route table is."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import column, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core import notify
from axops.core.errors import Conflict, Invalid, NotFound
from axops.guardrails.engine import Compiled, compile_policy
from axops.guardrails.models import GuardrailPolicy
from axops.guardrails.schemas import PolicyCreate, PolicyOut, PolicyUpdate

TOPIC = "guardrails"
_TARGETS = {  # scope → (table, name column) to check a target exists and to name it
    "route": ("gateway_routes", "model_name"),
    "team": ("teams", "name"),
    "key": ("api_keys", "name"),
}


def compiled(p: GuardrailPolicy) -> Compiled:
    return compile_policy(p.id, p.name, p.scope, p.target_id, p.direction, p.checks)


class PolicyCache:
    """Enabled policies by scope. With none at all, `applicable` is one attribute read."""

    def __init__(self) -> None:
        self.any = False
        self.everyone: tuple[Compiled, ...] = ()
        self.by_route: dict[str, tuple[Compiled, ...]] = {}
        self.by_team: dict[uuid.UUID, tuple[Compiled, ...]] = {}
        self.by_key: dict[uuid.UUID, tuple[Compiled, ...]] = {}
        self._stale = True
        self._lock = asyncio.Lock()
        notify.subscribe(TOPIC, self.invalidate)

    def invalidate(self) -> None:
        self._stale = True

    async def ensure(self, db) -> None:
        if not self._stale and notify.caching_allowed():
            return
        async with self._lock:
            if self._stale or not notify.caching_allowed():
                self._stale = False
                async with db.sessionmaker() as session:
                    rows = (await session.scalars(select(GuardrailPolicy).where(GuardrailPolicy.enabled))).all()
                self.load([compiled(p) for p in rows])

    def load(self, policies: list[Compiled]) -> None:
        groups: dict[str, dict] = {"route": {}, "team": {}, "key": {}}
        for p in sorted(policies, key=lambda p: p.name):
            if p.scope in groups:  # the route table keys routes by their id as text
                target = str(p.target_id) if p.scope == "route" else p.target_id
                groups[p.scope].setdefault(target, []).append(p)
        self.everyone = tuple(p for p in policies if p.scope == "global")
        self.by_route, self.by_team, self.by_key = ({k: tuple(v) for k, v in groups[s].items()} for s in _TARGETS)
        self.any = bool(policies)

    def applicable(self, route_id: str | None, principal) -> tuple[Compiled, ...]:
        """Global policies, the route's, the caller's teams' and the caller's key's."""
        if not self.any:
            return ()
        found = list(self.everyone)
        if route_id is not None:
            found.extend(self.by_route.get(route_id, ()))
        if self.by_team:
            for team in principal.team_ids:
                found.extend(self.by_team.get(team, ()))
        if principal.api_key_id is not None:
            found.extend(self.by_key.get(principal.api_key_id, ()))
        return tuple(found)


# -- service ---------------------------------------------------------------------------------


async def _target_name(session: AsyncSession, scope: str, target_id: uuid.UUID | None) -> str | None:
    if scope not in _TARGETS or target_id is None:
        return None
    table, column = _TARGETS[scope]
    return await session.scalar(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": target_id})


async def out(session: AsyncSession, p: GuardrailPolicy) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        name=p.name,
        description=p.description,
        scope=p.scope,
        target_id=p.target_id,
        target_name=await _target_name(session, p.scope, p.target_id),
        direction=p.direction,
        checks=p.checks,
        enabled=p.enabled,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


async def _check_target(session: AsyncSession, scope: str, target_id: uuid.UUID | None) -> None:
    if scope != "global" and await _target_name(session, scope, target_id) is None:
        raise Invalid(f"No {scope} with id {target_id} exists.", code="guardrail_target_not_found", scope=scope)


async def list_policies(session: AsyncSession, principal: Principal) -> list[GuardrailPolicy]:
    """Every policy for policies:admin; for anyone else the enabled ones that apply to them: global,
    their teams', their own keys', and those of the routes they may call."""
    query = select(GuardrailPolicy).order_by(GuardrailPolicy.name)
    if principal.can("policies:admin"):
        return list((await session.scalars(query)).all())
    keys_t = table("api_keys", column("id"), column("user_id"))
    routes_t = table("gateway_routes", column("id"), column("team_id"))
    keys = select(keys_t.c.id).where(keys_t.c.user_id == principal.user_id)
    teams = list(principal.team_ids)
    routes = select(routes_t.c.id).where(routes_t.c.team_id.is_(None) | routes_t.c.team_id.in_(teams))
    mine = (
        (GuardrailPolicy.scope == "global")
        | ((GuardrailPolicy.scope == "team") & GuardrailPolicy.target_id.in_(list(principal.team_ids)))
        | ((GuardrailPolicy.scope == "key") & GuardrailPolicy.target_id.in_(keys))
        | ((GuardrailPolicy.scope == "route") & GuardrailPolicy.target_id.in_(routes))
    )
    return list((await session.scalars(query.where(GuardrailPolicy.enabled, mine))).all())


async def get_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID) -> GuardrailPolicy:
    policy = await session.get(GuardrailPolicy, policy_id)
    if policy is None or not (principal.can("policies:admin") or policy in await list_policies(session, principal)):
        raise NotFound("No such guardrail policy.", code="guardrail_policy_not_found")
    return policy


def _summary(p: GuardrailPolicy) -> dict:
    return {
        "name": p.name,
        "scope": p.scope,
        "target_id": str(p.target_id) if p.target_id else None,
        "direction": p.direction,
        "checks": sorted(p.checks),
        "enabled": p.enabled,
    }


async def _flush(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A guardrail policy named {name!r} exists.", code="guardrail_policy_name_taken", name=name
        ) from exc


async def create_policy(session: AsyncSession, principal: Principal, data: PolicyCreate) -> GuardrailPolicy:
    await _check_target(session, data.scope, data.target_id)
    policy = GuardrailPolicy(
        name=data.name,
        description=data.description,
        scope=data.scope,
        target_id=data.target_id,
        direction=data.direction,
        checks=data.checks.model_dump(exclude_none=True),
        enabled=data.enabled,
        created_by=principal.user_id,
    )
    session.add(policy)
    await _flush(session, data.name)
    audit.record(
        session,
        "guardrails.policy_create",
        resource_type="guardrail_policy",
        resource_id=policy.id,
        summary=_summary(policy),
    )
    await notify.publish(session, TOPIC)
    await session.refresh(policy)
    return policy


async def update_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, data: PolicyUpdate
) -> GuardrailPolicy:
    policy = await get_policy(session, principal, policy_id)
    changes = data.model_dump(exclude_unset=True)
    scope = changes.get("scope", policy.scope)
    target = changes["target_id"] if "target_id" in changes else (None if scope == "global" else policy.target_id)
    if (scope == "global") != (target is None):
        raise Invalid(
            "target_id is required for route, team and key scopes and must be empty for global.",
            code="guardrail_target_not_found",
            scope=scope,
        )
    if "scope" in changes or "target_id" in changes:
        await _check_target(session, scope, target)
        policy.scope, policy.target_id = scope, target
    for name in ("name", "description", "direction", "enabled"):
        if changes.get(name) is not None:
            setattr(policy, name, changes[name])
    if data.checks is not None:
        policy.checks = data.checks.model_dump(exclude_none=True)
    await _flush(session, policy.name)
    audit.record(
        session,
        "guardrails.policy_update",
        resource_type="guardrail_policy",
        resource_id=policy.id,
        summary={**_summary(policy), "changed": sorted(changes)},
    )
    await notify.publish(session, TOPIC)
    await session.refresh(policy)
    return policy


async def delete_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID) -> None:
    policy = await get_policy(session, principal, policy_id)
    audit.record(
        session,
        "guardrails.policy_delete",
        resource_type="guardrail_policy",
        resource_id=policy.id,
        summary={"name": policy.name},
    )
    await session.delete(policy)
    await session.flush()
    await notify.publish(session, TOPIC)
