"""Who is calling: one dependency resolves a JWT or an API key to a Principal; `require` checks scopes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import security
from axops.auth.cache import principals
from axops.core import context
from axops.core.errors import Forbidden, NotAuthenticated
from axops.core.state import state_of

_LAST_USED_GRANULARITY = timedelta(minutes=1)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in state_of(request).db.session():
        yield session


# scope="function": commit before the response is sent, so a client never reads ahead of its own write.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    role: str
    permissions: frozenset[str]
    team_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    default_team_id: uuid.UUID | None = None  # where new resources go when the caller names no team
    auth: str = "jwt"
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    # Gateway models an API key is restricted to (None: no restriction).
    allowed_models: frozenset[str] | None = None
    log_content: bool = False  # the gateway keeps this key's request and answer text (masked)
    # The caller's own profile (display name, e-mail, teams with names...), for /api/user/info.
    profile: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def may_use_model(self, name: str) -> bool:
        return self.allowed_models is None or name in self.allowed_models

    def sees_team(self, team_id: uuid.UUID | None) -> bool:
        return self.is_admin or (team_id is not None and team_id in self.team_ids)


# Hand-written SQL: this runs on every uncached request, so it is one round trip and no ORM work.
_USER_COLUMNS = """
    u.id AS user_id, u.username, u.display_name, u.email, u.role, u.is_active, u.created_at,
    (SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.name), '[]')
       FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = u.id) AS teams,
    (SELECT t.id FROM teams t WHERE t.is_default) AS default_team_id
"""
_JWT_QUERY = text(f"""
    SELECT {_USER_COLUMNS}
    FROM users u JOIN auth_sessions s ON s.user_id = u.id
    WHERE u.id = :user_id AND s.id = :session_id AND s.revoked_at IS NULL AND s.expires_at > now()
""")
_KEY_QUERY = text(f"""
    SELECT {_USER_COLUMNS}, k.id AS key_id, k.scopes, k.models AS key_models, k.log_content AS key_log_content, k.expires_at AS key_expires_at,
           k.revoked_at AS key_revoked_at, k.last_used_at
    FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.key_hash = :key_hash
""")
_TOUCH_KEY = text("UPDATE api_keys SET last_used_at = :now WHERE id = :id")

_INVALID = "The token is invalid, expired or revoked."


def _unauthenticated() -> NotAuthenticated:
    return NotAuthenticated(_INVALID, headers={"WWW-Authenticate": "Bearer"})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "Send 'Authorization: Bearer <token>' with an access token or an API key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _profile(row) -> dict[str, Any]:
    teams = orjson.loads(row.teams) if isinstance(row.teams, str) else row.teams
    return {
        "id": row.user_id,
        "username": row.username,
        "display_name": row.display_name,
        "email": row.email,
        "role": row.role,
        "is_active": row.is_active,
        "created_at": row.created_at,
        "teams": teams,
    }


def _remaining(deadline: datetime) -> float:
    return time.monotonic() + (deadline - datetime.now(UTC)).total_seconds()


async def _from_jwt(request: Request, session: AsyncSession, token: str) -> Principal:
    state = state_of(request)
    claims = security.decode_access_token(state.secret_key, token)
    if claims is None:
        raise _unauthenticated()
    try:
        user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    except ValueError as exc:
        raise _unauthenticated() from exc
    generation = principals.generation
    row = (await session.execute(_JWT_QUERY, {"user_id": user_id, "session_id": session_id})).first()
    if row is None or not row.is_active:
        raise _unauthenticated()
    principal = Principal(
        user_id=user_id,
        username=row.username,
        role=row.role,
        permissions=state.role_permissions.get(row.role, frozenset()),
        team_ids=frozenset(uuid.UUID(t["id"]) for t in _profile(row)["teams"]),
        default_team_id=row.default_team_id,
        auth="jwt",
        session_id=session_id,
        profile=_profile(row),
    )
    principals.put(token, (principal, None), generation, _remaining(datetime.fromtimestamp(claims["exp"], UTC)))
    return principal


async def _from_api_key(request: Request, session: AsyncSession, token: str) -> Principal:
    generation = principals.generation
    row = (await session.execute(_KEY_QUERY, {"key_hash": security.sha256_hex(token)})).first()
    now = datetime.now(UTC)
    if row is None or not row.is_active or row.key_revoked_at is not None:
        raise _unauthenticated()
    if row.key_expires_at is not None and row.key_expires_at <= now:
        raise _unauthenticated()
    role_permissions = state_of(request).role_permissions.get(row.role, frozenset())
    profile = _profile(row)
    principal = Principal(
        user_id=row.user_id,
        username=row.username,
        role=row.role,
        # A key can never do more than its owner can do today.
        permissions=role_permissions & frozenset(row.scopes),
        team_ids=frozenset(uuid.UUID(t["id"]) for t in profile["teams"]),
        default_team_id=row.default_team_id,
        auth="apikey",
        api_key_id=row.key_id,
        allowed_models=frozenset(row.key_models) if row.key_models is not None else None,
        log_content=bool(row.key_log_content),
        profile=profile,
    )
    last_used = row.last_used_at
    if last_used is None or now - last_used > _LAST_USED_GRANULARITY:
        await session.execute(_TOUCH_KEY, {"now": now, "id": row.key_id})
        last_used = now
    not_after = _remaining(row.key_expires_at) if row.key_expires_at else None
    principals.put(token, (principal, last_used), generation, not_after)
    return principal


async def _touch_cached_key(session: AsyncSession, token: str, principal: Principal) -> None:
    now = datetime.now(UTC)
    generation = principals.generation
    await session.execute(_TOUCH_KEY, {"now": now, "id": principal.api_key_id})
    principals.put(token, (principal, now), generation)


async def get_principal(request: Request) -> Principal:
    token = _bearer(request)
    cached = principals.get(token)
    if cached is not None and (cached[0].auth == "jwt" or datetime.now(UTC) - cached[1] <= _LAST_USED_GRANULARITY):
        principal = cached[0]  # the common case: no database work at all
    else:
        # Its own short transaction, so the route's transaction (if any) stays its own.
        async with state_of(request).db.sessionmaker() as session:
            if cached is not None:
                principal = cached[0]
                await _touch_cached_key(session, token, principal)
            elif token.startswith(security.API_KEY_PREFIX):
                principal = await _from_api_key(request, session, token)
            else:
                principal = await _from_jwt(request, session, token)
            await session.commit()
    ctx = context.current()
    ctx.actor_id = str(principal.user_id)
    ctx.actor_name = principal.username
    ctx.actor_type = "apikey" if principal.auth == "apikey" else "user"
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: str):
    """Dependency factory: the caller must hold `permission` (by role, narrowed by API key scopes)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise Forbidden(
                f"This action needs the '{permission}' permission, which your role or key lacks.",
                code="permission_denied",
                permission=permission,
            )
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)
