"""Accounts: login sessions, users, teams, roles. Services flush, never commit (the request does)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from axops.auth import audit, cache, security, two_factor
from axops.auth.deps import Principal
from axops.auth.models import (
    AuthSession,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
    Team,
    TeamMember,
    User,
)
from axops.auth.permissions import PERMISSIONS, ROLE_DESCRIPTIONS, ROLE_PERMISSIONS
from axops.auth.schemas import UserCreate, UserUpdate
from axops.auth.scoping import SYSTEM
from axops.core import context
from axops.core.errors import Conflict, Invalid, NotAuthenticated, NotFound, TooManyRequests
from axops.core.pagination import page_of, paginate_desc
from axops.core.throttle import LoginThrottle

INVALID_LOGIN = "Invalid username or password."


@dataclass
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass
class MfaChallenge:
    """The password was right and the user has two-factor on: a code must follow (POST /api/auth/login/mfa)."""

    challenge: str
    expires_in: int


@dataclass
class TokenPolicy:
    secret: str
    access_ttl: int
    refresh_ttl: int


# --- roles -------------------------------------------------------------------------------


async def seed_roles(session: AsyncSession) -> None:
    """Bring the role/permission tables in line with permissions.py (idempotent)."""
    for name, description in PERMISSIONS.items():
        await session.merge(Permission(name=name, description=description))
    for role, description in ROLE_DESCRIPTIONS.items():
        await session.merge(Role(name=role, description=description))
    await session.flush()
    await session.execute(delete(RolePermission))
    session.add_all(RolePermission(role=r, permission=p) for r, perms in ROLE_PERMISSIONS.items() for p in perms)
    await session.flush()


async def principal_of(session: AsyncSession, user: User) -> Principal:
    """A user as a caller outside any request (a CLI command acting as them): their role's
    permissions and their teams, as a token of theirs would give them."""
    permissions = await session.scalars(select(RolePermission.permission).where(RolePermission.role == user.role))
    team_ids = await session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        permissions=frozenset(permissions),
        team_ids=frozenset(team_ids),
        default_team_id=await session.scalar(select(Team.id).where(Team.is_default)),
    )


async def load_role_permissions(session: AsyncSession) -> dict[str, frozenset[str]]:
    rows = await session.execute(select(RolePermission.role, RolePermission.permission))
    matrix: dict[str, set[str]] = {}
    for role, permission in rows:
        matrix.setdefault(role, set()).add(permission)
    return {role: frozenset(perms) for role, perms in matrix.items()}


DEFAULT_TEAM = "default"


async def ensure_default_team(session: AsyncSession) -> Team:
    """The default team (as migration 0012 seeds it): the one marked, else the team named "default"
    (marked now), else a new one. Seeding, not a user's change: no audit event, as for the roles."""
    team = await session.scalar(select(Team).where(Team.is_default))
    if team is None:
        team = await session.scalar(select(Team).where(func.lower(Team.name) == DEFAULT_TEAM))
        if team is None:
            team = Team(name=DEFAULT_TEAM, description="Everyone not placed in another team")
            session.add(team)
        team.is_default = True
        await session.flush()
    return team


async def ensure_admin(session: AsyncSession, password: str | None) -> str | None:
    """Create the `admin` user on first start, in the default team. Returns the password when it was generated."""
    if await session.scalar(select(func.count()).select_from(User).where(User.role == "admin")):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    user = User(
        username="admin", display_name="Administrator", role="admin", password_hash=security.hash_password(password)
    )
    session.add(user)
    await session.flush()
    team = await ensure_default_team(session)
    session.add(TeamMember(team_id=team.id, user_id=user.id))
    await session.flush()
    audit.record(
        session,
        "user.create",
        resource_type="user",
        resource_id=user.id,
        summary={"username": "admin", "role": "admin", "teams": [team.name], "bootstrap": True},
        actor=SYSTEM,
    )
    return generated


# --- sessions ----------------------------------------------------------------------------


async def _issue(session: AsyncSession, user: User, policy: TokenPolicy, auth_session: AuthSession) -> IssuedTokens:
    refresh = security.new_refresh_token(policy.secret)
    session.add(
        RefreshToken(
            token_hash=security.sha256_hex(refresh),
            session_id=auth_session.id,
            expires_at=datetime.now(UTC) + timedelta(seconds=policy.refresh_ttl),
        )
    )
    await session.flush()
    access = security.issue_access_token(policy.secret, user.id, auth_session.id, policy.access_ttl)
    return IssuedTokens(access, refresh, policy.access_ttl, user)


async def _user_with_teams(session: AsyncSession, **where) -> User | None:
    q = select(User).options(selectinload(User.teams)).filter_by(**where)
    return await session.scalar(q)


async def login(
    session: AsyncSession,
    sessionmaker: async_sessionmaker,
    throttle: LoginThrottle,
    policy: TokenPolicy,
    username: str,
    password: str,
) -> IssuedTokens | MfaChallenge:
    ctx = context.current()
    username = username.strip().lower()
    wait = await throttle.retry_after(username, ctx.client_ip)
    if wait:
        await audit.record_now(
            sessionmaker,
            "auth.login_throttled",
            resource_type="user",
            outcome="failure",
            summary={"username": username[:64]},
            actor_name=username[:64],
        )
        raise TooManyRequests(
            f"Too many failed login attempts. Try again in {wait} s.",
            code="login_throttled",
            retry_after=wait,
            headers={"Retry-After": str(wait)},
        )
    user = await _user_with_teams(session, username=username)
    ok = await anyio.to_thread.run_sync(security.verify_password, user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:  # no user: ok is False
        await throttle.failed(username, ctx.client_ip)
        reason = "unknown_user" if user is None else ("inactive" if ok else "bad_password")
        await audit.record_now(
            sessionmaker,
            "auth.login_failed",
            resource_type="user",
            outcome="failure",
            resource_id=user.id if user else None,
            summary={"username": username[:64], "reason": reason},
            actor_name=username[:64],
        )
        raise NotAuthenticated(INVALID_LOGIN, code="invalid_credentials")
    await throttle.succeeded(username, ctx.client_ip)
    if security.needs_rehash(user.password_hash):
        user.password_hash = await anyio.to_thread.run_sync(security.hash_password, password)
    if await two_factor.is_enabled(session, user.id):
        return MfaChallenge(two_factor.issue_challenge(policy.secret, user.id), two_factor.CHALLENGE_TTL_SECONDS)
    return await start_session(session, user, policy)


async def login_mfa(
    session: AsyncSession, sessionmaker: async_sessionmaker, policy: TokenPolicy, challenge: str, code: str
) -> IssuedTokens:
    """The second step of a login with two-factor on: the challenge of the first step and a code."""
    user_id = two_factor.challenge_user(policy.secret, challenge)
    user = await _user_with_teams(session, id=user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(INVALID_LOGIN, code="invalid_credentials")
    ctx = context.current()
    ctx.actor_id, ctx.actor_name, ctx.actor_type = str(user.id), user.username, "user"
    try:
        via = await two_factor.verify_code(session, policy.secret, user.id, code)
    except (Invalid, TooManyRequests) as exc:
        await audit.record_now(
            sessionmaker,
            "auth.login_failed",
            resource_type="user",
            outcome="failure",
            resource_id=user.id,
            summary={"username": user.username, "reason": exc.code},
            actor_name=user.username,
        )
        raise
    return await start_session(session, user, policy, mfa=via)


async def start_session(
    session: AsyncSession, user: User, policy: TokenPolicy, *, mfa: str | None = None, sso: bool = False
) -> IssuedTokens:
    """A new login session for a user whose credentials were checked (password, two-factor code or SSO)."""
    ctx = context.current()
    now = datetime.now(UTC)
    auth_session = AuthSession(
        user_id=user.id,
        expires_at=now + timedelta(seconds=policy.refresh_ttl),
        client_ip=ctx.client_ip,
        user_agent=ctx.user_agent,
        mfa_at=now if mfa else None,
    )
    session.add(auth_session)
    await session.flush()
    ctx.actor_id, ctx.actor_name, ctx.actor_type = str(user.id), user.username, "user"
    summary = {"session_id": str(auth_session.id)} | ({"mfa": mfa} if mfa else {}) | ({"sso": True} if sso else {})
    audit.record(session, "auth.login", resource_type="user", resource_id=user.id, summary=summary)
    return await _issue(session, user, policy, auth_session)


async def refresh(
    session: AsyncSession, sessionmaker: async_sessionmaker, policy: TokenPolicy, token: str
) -> IssuedTokens:
    now = datetime.now(UTC)
    row = (
        await session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == security.sha256_hex(token))
            .with_for_update()
        )
    ).first()
    invalid = NotAuthenticated("The refresh token is invalid, expired or revoked. Log in again.")
    if row is None or not security.refresh_token_signed(policy.secret, token):  # issued under another key: rotated
        raise invalid
    stored, auth_session = row
    if stored.used_at is not None:
        # A spent token came back: someone holds a copy. End the whole session, durably although
        # this request fails (release our row lock first, then write in a transaction of its own).
        session_id = auth_session.id
        await session.rollback()
        async with sessionmaker() as side:
            await side.execute(update(AuthSession).where(AuthSession.id == session_id).values(revoked_at=now))
            audit.record(
                side,
                "auth.refresh_reuse",
                resource_type="session",
                resource_id=session_id,
                outcome="failure",
                actor_name="anonymous",
            )
            await cache.invalidate(side)
            await side.commit()
        cache.principals.clear()
        raise invalid
    if stored.expires_at <= now or auth_session.revoked_at is not None:
        raise invalid
    user = await _user_with_teams(session, id=auth_session.user_id)
    if user is None or not user.is_active:
        raise invalid
    stored.used_at = now
    return await _issue(session, user, policy, auth_session)


async def logout(session: AsyncSession, principal: Principal | None, refresh_token: str | None) -> None:
    """End the caller's session and the refresh token's (which, with a caller, must be the caller's)."""
    session_ids = set()
    user_id = principal.user_id if principal else None
    if principal and principal.session_id:
        session_ids.add(principal.session_id)
    if refresh_token:
        q = (
            select(RefreshToken.session_id, AuthSession.user_id)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == security.sha256_hex(refresh_token))
        )
        if principal:
            q = q.where(AuthSession.user_id == principal.user_id)
        row = (await session.execute(q)).first()
        if row:
            session_ids.add(row.session_id)
            user_id = row.user_id
    if user_id is None:
        return
    if principal is None:
        ctx = context.current()
        ctx.actor_id, ctx.actor_type = str(user_id), "user"
    if session_ids:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id.in_(session_ids), AuthSession.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    await cache.invalidate(session)
    audit.record(
        session, "auth.logout", resource_type="user", resource_id=user_id, summary={"sessions": len(session_ids)}
    )


async def _revoke_sessions(session: AsyncSession, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    q = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep:
        q = q.where(AuthSession.id != keep)
    await session.execute(q.values(revoked_at=datetime.now(UTC)))
    await cache.invalidate(session)


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- users -------------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await _user_with_teams(session, id=user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def list_users(session: AsyncSession, q: str | None, cursor: str | None, limit: int):
    query = select(User).options(selectinload(User.teams))
    if q:
        like = like_pattern(q)
        query = query.where(
            func.lower(User.username).like(like, escape="\\")
            | func.lower(User.display_name).like(like, escape="\\")
            | func.lower(func.coalesce(User.email, "")).like(like, escape="\\")
        )
    rows = (await session.scalars(paginate_desc(query, User.created_at, User.id, cursor, limit))).all()
    return page_of(list(rows), limit)


async def _teams_by_id(session: AsyncSession, team_ids: list[uuid.UUID]) -> list[Team]:
    teams = list((await session.scalars(select(Team).where(Team.id.in_(team_ids)))).all()) if team_ids else []
    missing = set(team_ids) - {t.id for t in teams}
    if missing:
        raise Invalid(f"Unknown team id(s): {', '.join(sorted(map(str, missing)))}")
    return teams


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    username = data.username.lower()
    if await session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"The username '{username}' is taken.", code="username_taken", username=username)
    # Placed in no team: the default team, so that what they create has an owner.
    teams = await _teams_by_id(session, list(dict.fromkeys(data.team_ids))) or [await ensure_default_team(session)]
    password_hash = await anyio.to_thread.run_sync(security.hash_password, data.password)
    user = User(
        username=username,
        display_name=data.display_name,
        email=str(data.email) if data.email else None,
        role=data.role,
        password_hash=password_hash,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The username '{username}' is taken.", code="username_taken", username=username) from exc
    session.add_all(TeamMember(team_id=t.id, user_id=user.id) for t in teams)
    await session.flush()
    audit.record(
        session,
        "user.create",
        resource_type="user",
        resource_id=user.id,
        summary={"username": username, "role": data.role, "teams": [t.name for t in teams]},
    )
    session.expunge(user)
    return await get_user(session, user.id)


async def _active_admins(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.is_active)) or 0


async def update_user(session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = await get_user(session, user_id)
    # null means "clear" only for the e-mail; for the other fields it means "leave as is".
    changes = {
        k: v for k, v in data.model_dump(exclude_unset=True, mode="json").items() if v is not None or k == "email"
    }
    before = {k: getattr(user, k) for k in changes}
    demoting = (
        user.role == "admin"
        and user.is_active
        and (changes.get("role", "admin") != "admin" or changes.get("is_active") is False)
    )
    if demoting and await _active_admins(session) <= 1:
        raise Conflict("This is the last active Admin; make another user Admin first.", code="last_admin")
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()
    change = audit.diff(before, changes)
    if not change:
        return user
    await cache.invalidate(session)
    if "role" in change:
        audit.record(
            session,
            "user.role_change",
            resource_type="user",
            resource_id=user.id,
            summary={"username": user.username, "role": change.pop("role")},
        )
    if "is_active" in change:
        active = change.pop("is_active")[1]
        if not active:
            await _revoke_sessions(session, user.id)
        audit.record(
            session,
            "user.activate" if active else "user.deactivate",
            resource_type="user",
            resource_id=user.id,
            summary={"username": user.username},
        )
    if change:
        audit.record(session, "user.update", resource_type="user", resource_id=user.id, summary=change)
    await session.refresh(user, ["updated_at"])
    return user


async def reset_password(session: AsyncSession, user_id: uuid.UUID, new_password: str) -> None:
    user = await get_user(session, user_id)
    user.password_hash = await anyio.to_thread.run_sync(security.hash_password, new_password)
    user.password_changed_at = datetime.now(UTC)
    await _revoke_sessions(session, user.id)
    audit.record(
        session, "user.password_reset", resource_type="user", resource_id=user.id, summary={"username": user.username}
    )


async def change_own_password(session: AsyncSession, principal: Principal, current: str, new: str) -> None:
    user = await get_user(session, principal.user_id)
    if not await anyio.to_thread.run_sync(security.verify_password, user.password_hash, current):
        raise Invalid(
            "The current password is incorrect.",
            code="wrong_password",
            errors=[{"loc": ["body", "current_password"], "msg": "incorrect password", "type": "invalid_password"}],
        )
    if current == new:
        raise Invalid("The new password must differ from the current one.", code="password_unchanged")
    user.password_hash = await anyio.to_thread.run_sync(security.hash_password, new)
    user.password_changed_at = datetime.now(UTC)
    await _revoke_sessions(session, user.id, keep=principal.session_id)
    audit.record(session, "user.password_change", resource_type="user", resource_id=user.id)
