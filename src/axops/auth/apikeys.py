"""API keys: issued once (only a SHA-256 is kept), scoped to a subset of the owner's permissions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from axops.auth import audit, cache, security
from axops.auth.deps import Principal
from axops.auth.models import ApiKey, Team, User
from axops.auth.permissions import PERMISSIONS
from axops.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from axops.core.errors import Forbidden, Invalid, NotFound
from axops.core.pagination import page_of, paginate_desc


def status_of(key: ApiKey, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def to_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        models=list(key.models) if key.models is not None else None,
        log_content=bool(key.log_content),
        team_id=key.team_id,
        team_name=key.team.name if key.team else None,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        status=status_of(key),
    )


async def create_key(session: AsyncSession, principal: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    scopes = sorted(set(data.scopes)) if data.scopes is not None else sorted(principal.permissions)
    unknown = [s for s in scopes if s not in PERMISSIONS]
    if unknown:
        raise Invalid(f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {', '.join(PERMISSIONS)}.")
    beyond = [s for s in scopes if s not in principal.permissions]
    if beyond:
        raise Forbidden(
            f"A key cannot hold scopes its owner lacks: {', '.join(beyond)}.", code="scope_beyond_owner", scopes=beyond
        )
    if not scopes:
        raise Invalid("A key needs at least one scope.", code="api_key_no_scope")
    team = None
    if data.team_id is not None and (
        not principal.sees_team(data.team_id) or (team := await session.get(Team, data.team_id)) is None
    ):
        raise NotFound("No such team among yours.")
    secret, prefix = security.new_api_key()
    now = datetime.now(UTC)
    key = ApiKey(
        name=data.name,
        prefix=prefix,
        key_hash=security.sha256_hex(secret),
        user_id=principal.user_id,
        team_id=data.team_id,
        scopes=scopes,
        models=sorted(set(data.models)) if data.models is not None else None,
        log_content=data.log_content,
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(key)
    await session.flush()
    audit.record(
        session,
        "apikey.create",
        resource_type="apikey",
        resource_id=key.id,
        team_id=data.team_id,
        summary={
            "name": key.name,
            "prefix": prefix,
            "scopes": scopes,
            "models": key.models,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )
    key.team = team
    return ApiKeyCreated(**to_out(key).model_dump(), key=secret)


async def issue_run_key(
    session: AsyncSession, principal: Principal, name: str, scopes: list[str], expires_in_days: int = 1
) -> ApiKeyCreated:
    """A key the platform issues to a run's creator for the run's own gateway calls (evaluation runs,
    agent runs): the creator's limits, budgets, guardrails and usage records apply. The caller keeps it
    encrypted while the run lasts and revokes it with `revoke_key_by_id` at the end. A caller using a key
    limited to some models passes the limit on: a run never reaches a model its caller's key may not."""
    models = sorted(principal.allowed_models) if principal.allowed_models is not None else None
    return await create_key(
        session,
        principal,
        ApiKeyCreate(name=name, scopes=scopes, models=models, expires_in_days=expires_in_days),
    )


async def list_keys(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int, all_users: bool = False
) -> tuple[list[ApiKeyOut], str | None]:
    q = select(ApiKey).options(selectinload(ApiKey.team))
    if not (all_users and principal.is_admin):
        q = q.where(ApiKey.user_id == principal.user_id)
    rows = (await session.scalars(paginate_desc(q, ApiKey.created_at, ApiKey.id, cursor, limit))).all()
    rows, next_cursor = page_of(list(rows), limit)
    return [to_out(k) for k in rows], next_cursor


async def revoke_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKeyOut:
    key = await session.scalar(select(ApiKey).options(selectinload(ApiKey.team)).where(ApiKey.id == key_id))
    if key is None or (key.user_id != principal.user_id and not principal.is_admin):
        raise NotFound("No such API key.", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        await cache.invalidate(session)
        audit.record(
            session,
            "apikey.revoke",
            resource_type="apikey",
            resource_id=key.id,
            team_id=key.team_id,
            summary={"name": key.name, "prefix": key.prefix},
        )
    return to_out(key)


async def revoke_key_by_id(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Revoke a key the platform issued for itself (a deployment's runtime key) when its holder goes away."""
    key = await session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        await cache.invalidate(session)
        audit.record(
            session,
            "apikey.revoke",
            resource_type="apikey",
            resource_id=key.id,
            team_id=key.team_id,
            summary={"name": key.name, "prefix": key.prefix, "by": "system"},
        )


async def revoke_all(session: AsyncSession, principal: Principal, user_id: uuid.UUID | None) -> int:
    """Revoke every active key of a user (the caller's own; an Admin may name anyone) in one statement,
    audited once with the count. Every process drops its cached principals on commit (NOTIFY)."""
    target = user_id or principal.user_id
    if target != principal.user_id and not principal.is_admin:
        raise NotFound("No such user.", code="user_not_found")
    if target != principal.user_id and await session.get(User, target) is None:
        raise NotFound("No such user.", code="user_not_found")
    now = datetime.now(UTC)
    revoked = (
        await session.scalars(
            update(ApiKey)
            .where(ApiKey.user_id == target, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiKey.prefix)
        )
    ).all()
    if revoked:
        await cache.invalidate(session)
    audit.record(
        session,
        "apikey.revoke_all",
        resource_type="user",
        resource_id=target,
        summary={"count": len(revoked), "prefixes": sorted(revoked)[:100], "own": target == principal.user_id},
    )
    return len(revoked)
