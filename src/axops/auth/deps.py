"""Who is calling: one dependency resolves a JWT or an API key to a Principal; `require` checks scopes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import security
from axops.auth.models import ApiKey, AuthSession, TeamMember, User
from axops.core import context
from axops.core.errors import Forbidden, NotAuthenticated

_LAST_USED_GRANULARITY = timedelta(minutes=1)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in request.app.state.db.session():
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
    auth: str = "jwt"
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def sees_team(self, team_id: uuid.UUID | None) -> bool:
        return self.is_admin or (team_id is not None and team_id in self.team_ids)


def _team_ids_subquery():
    return (
        select(func.array_agg(TeamMember.team_id))
        .where(TeamMember.user_id == User.id)
        .scalar_subquery()
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "Send 'Authorization: Bearer <token>' with an access token or an API key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


_INVALID = "The token is invalid, expired or revoked."


async def _from_jwt(request: Request, session: AsyncSession, token: str) -> Principal:
    claims = security.decode_access_token(request.app.state.secret_key, token)
    if claims is None:
        raise NotAuthenticated(_INVALID, headers={"WWW-Authenticate": "Bearer"})
    try:
        user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    except ValueError as exc:
        raise NotAuthenticated(_INVALID) from exc
    row = (
        await session.execute(
            select(User.username, User.role, User.is_active, _team_ids_subquery())
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == user_id, AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        )
    ).first()
    if row is None or not row.is_active:
        raise NotAuthenticated(_INVALID, headers={"WWW-Authenticate": "Bearer"})
    return Principal(
        user_id=user_id,
        username=row.username,
        role=row.role,
        permissions=request.app.state.role_permissions.get(row.role, frozenset()),
        team_ids=frozenset(row[3] or ()),
        auth="jwt",
        session_id=session_id,
    )


async def _from_api_key(request: Request, session: AsyncSession, token: str) -> Principal:
    row = (
        await session.execute(
            select(ApiKey, User.username, User.role, User.is_active, _team_ids_subquery())
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == security.sha256_hex(token))
        )
    ).first()
    now = datetime.now(UTC)
    if row is None:
        raise NotAuthenticated(_INVALID, headers={"WWW-Authenticate": "Bearer"})
    key: ApiKey = row[0]
    if not row.is_active or key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
        raise NotAuthenticated(_INVALID, headers={"WWW-Authenticate": "Bearer"})
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
        await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    role_permissions = request.app.state.role_permissions.get(row.role, frozenset())
    return Principal(
        user_id=key.user_id,
        username=row.username,
        role=row.role,
        # A key can never do more than its owner can do today.
        permissions=role_permissions & frozenset(key.scopes),
        team_ids=frozenset(row[4] or ()),
        auth="apikey",
        api_key_id=key.id,
    )


async def get_principal(request: Request, session: Session) -> Principal:
    token = _bearer(request)
    if token.startswith(security.API_KEY_PREFIX):
        principal = await _from_api_key(request, session, token)
    else:
        principal = await _from_jwt(request, session, token)
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
            raise Forbidden(f"This action needs the '{permission}' permission, which your role or key lacks.")
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)
