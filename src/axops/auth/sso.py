"""Single sign-on with OpenID Connect: authorization code flow with PKCE, state and nonce (authlib's client),
ID token checked against the IdP's JWKS (signature, iss, aud, exp, nonce). IdP groups map to a role and teams
(AXOPS_OIDC_GROUP_MAP); the user is created or updated on each sign-in and has no usable password.

The flow's secrets (state, nonce, PKCE verifier) travel in a short-lived signed httpOnly cookie, so any API
replica can finish a sign-in another one started."""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import orjson
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from axops.auth import audit, cache, security
from axops.auth.models import ROLE_NAMES, SsoIdentity, Team, TeamMember, User
from axops.core.errors import NotFound

log = logging.getLogger("axops.sso")

FLOW_COOKIE = "axops_sso"
FLOW_COOKIE_PATH = "/api/auth/sso"
FLOW_TTL_SECONDS = 600
CALLBACK_PATH = "/api/auth/sso/callback"
NO_PASSWORD = "!sso"  # not an Argon2 hash: verify_password is always False
_DISCOVERY_TTL = 3600
_HTTP_TIMEOUT = 10.0
_ROLE_RANK = {r: i for i, r in enumerate(reversed(ROLE_NAMES))}  # viewer 0 … admin 3
_discovery: dict[str, tuple[float, dict]] = {}


class SsoFailed(Exception):
    """A sign-in that must not go on; `reason` is the stable code the login page shows a message for."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


@dataclass
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_url: str
    scopes: str
    groups_claim: str
    group_map: dict[str, dict[str, str]]
    default_role: str


@dataclass
class Claims:
    subject: str
    username: str
    display_name: str
    email: str | None
    groups: list[str] = field(default_factory=list)


def config(settings) -> OidcConfig | None:
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    try:
        group_map = orjson.loads(settings.oidc_group_map or "{}")
    except orjson.JSONDecodeError:
        log.error("sso.bad_group_map")
        group_map = {}
    return OidcConfig(
        issuer=settings.oidc_issuer.rstrip("/"),
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        redirect_url=settings.oidc_redirect_url or settings.control_url.rstrip("/") + CALLBACK_PATH,
        scopes=settings.oidc_scopes,
        groups_claim=settings.oidc_groups_claim,
        group_map=group_map if isinstance(group_map, dict) else {},
        default_role=settings.oidc_default_role if settings.oidc_default_role in ROLE_NAMES else "viewer",
    )


def required(settings) -> OidcConfig:
    cfg = config(settings)
    if cfg is None:
        raise NotFound("Single sign-on is not configured.", code="sso_not_configured")
    return cfg


async def _metadata(cfg: OidcConfig) -> dict:
    hit = _discovery.get(cfg.issuer)
    if hit and time.monotonic() - hit[0] < _DISCOVERY_TTL:
        return hit[1]
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as client:
        r = await client.get(cfg.issuer + "/.well-known/openid-configuration")
        r.raise_for_status()
        meta = r.json()
    if meta.get("issuer", "").rstrip("/") != cfg.issuer:
        raise SsoFailed("idp_error", "the discovery document names another issuer")
    _discovery[cfg.issuer] = (time.monotonic(), meta)
    return meta


def _client(cfg: OidcConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        scope=cfg.scopes,
        redirect_uri=cfg.redirect_url,
        code_challenge_method="S256",
        timeout=_HTTP_TIMEOUT,
    )


async def start(cfg: OidcConfig, secret_key: str) -> tuple[str, str]:
    """The IdP's authorization URL and the flow cookie to set."""
    meta = await _metadata(cfg)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    async with _client(cfg) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    now = datetime.now(UTC)
    flow = {"typ": "sso", "state": state, "nonce": nonce, "verifier": verifier, "iat": now}
    flow["exp"] = now + timedelta(seconds=FLOW_TTL_SECONDS)
    return url, jwt.encode(flow, secret_key, algorithm=security.JWT_ALGORITHM)


def _flow(secret_key: str, cookie: str | None, state: str | None) -> dict:
    try:
        flow = jwt.decode(cookie or "", secret_key, algorithms=[security.JWT_ALGORITHM])
    except jwt.PyJWTError as exc:
        raise SsoFailed("state_mismatch", "no or an expired sign-in cookie") from exc
    if flow.get("typ") != "sso" or not state or not secrets.compare_digest(str(flow.get("state")), state):
        raise SsoFailed("state_mismatch", "the state does not match this browser's sign-in")
    return flow


async def finish(cfg: OidcConfig, secret_key: str, cookie: str | None, state: str | None, code: str | None) -> Claims:
    """Exchange the code (with the PKCE verifier) and verify the ID token; the signed-in user's claims."""
    flow = _flow(secret_key, cookie, state)
    if not code:
        raise SsoFailed("idp_error", "the IdP sent no code")
    meta = await _metadata(cfg)
    try:
        async with _client(cfg) as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=flow["verifier"], grant_type="authorization_code"
            )
            jwks = (await client.get(meta["jwks_uri"])).raise_for_status().json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise SsoFailed("idp_error", f"token exchange failed: {type(exc).__name__}") from exc
    except Exception as exc:  # authlib's OAuthError for an error answer
        raise SsoFailed("idp_error", f"token exchange failed: {type(exc).__name__}") from exc
    id_token = token.get("id_token")
    if not id_token:
        raise SsoFailed("token_invalid", "no ID token")
    return verify_id_token(cfg, KeySet.import_key_set(jwks), id_token, flow["nonce"])


def verify_id_token(cfg: OidcConfig, keys: KeySet, id_token: str, nonce: str) -> Claims:
    try:
        decoded = jose_jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
        jose_jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": cfg.issuer},
            aud={"essential": True, "value": cfg.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SsoFailed("token_invalid", f"ID token refused: {type(exc).__name__}") from exc
    c: dict[str, Any] = decoded.claims
    groups = c.get(cfg.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    email = c.get("email") if isinstance(c.get("email"), str) else None
    raw_name = c.get("preferred_username") or (email.split("@")[0] if email else "") or c["sub"]
    return Claims(
        subject=str(c["sub"])[:255],
        username=_username(str(raw_name)),
        display_name=str(c.get("name") or raw_name)[:200],
        email=email[:320] if email else None,
        groups=[str(g) for g in groups if isinstance(g, str | int)],
    )


def _username(raw: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.strip().lower()).strip("-._")
    name = name[:64] or "sso-user"
    return name if len(name) >= 3 else f"{name}-sso"


def _mapping(cfg: OidcConfig, groups: list[str]) -> tuple[str, list[str]]:
    role, teams = None, []
    for g in groups:
        m = cfg.group_map.get(g)
        if not isinstance(m, dict):
            continue
        r = m.get("role")
        if r in ROLE_NAMES and (role is None or _ROLE_RANK[r] > _ROLE_RANK[role]):
            role = r
        if isinstance(m.get("team"), str):
            teams.append(m["team"])
    return role or cfg.default_role, teams


async def sign_in_user(session: AsyncSession, cfg: OidcConfig, claims: Claims) -> User:
    """Create or update the user of these claims; role and teams follow the IdP's groups on every sign-in."""
    role, team_names = _mapping(cfg, claims.groups)
    identity = await session.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == cfg.issuer, SsoIdentity.subject == claims.subject)
    )
    now = datetime.now(UTC)
    created = identity is None
    user: User | None
    if identity is None:
        if await session.scalar(select(User.id).where(User.username == claims.username)):
            # Never take over an existing local account by a matching name.
            raise SsoFailed("account_conflict", "the username belongs to an account that does not use SSO")
        user = User(
            username=claims.username,
            display_name=claims.display_name,
            email=claims.email,
            role=role,
            password_hash=NO_PASSWORD,
        )
        session.add(user)
        await session.flush()
        session.add(SsoIdentity(issuer=cfg.issuer, subject=claims.subject, user_id=user.id, last_login_at=now))
    else:
        user = await session.get(User, identity.user_id)
        if user is None or not user.is_active:
            raise SsoFailed("inactive", "the account is deactivated")
        identity.last_login_at = now
    assert user is not None
    before = {"role": user.role, "display_name": user.display_name, "email": user.email}
    user.role, user.display_name, user.email = role, claims.display_name, claims.email
    teams: list[Team | None] = (
        list((await session.scalars(select(Team).where(Team.name.in_(team_names)))).all()) if team_names else []
    )
    if not teams:
        teams = [await session.scalar(select(Team).where(Team.is_default))]
    team_ids = {t.id for t in teams if t is not None}
    current = set(await session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
    if current != team_ids:
        await session.execute(delete(TeamMember).where(TeamMember.user_id == user.id))
        session.add_all(TeamMember(team_id=t, user_id=user.id) for t in team_ids)
    await session.flush()
    summary = {"username": user.username, "role": role, "teams": sorted(t.name for t in teams if t), "sso": True}
    if created:
        audit.record(session, "user.create", resource_type="user", resource_id=user.id, summary=summary)
    else:
        change = audit.diff(before, {"role": role, "display_name": claims.display_name, "email": claims.email})
        if change or current != team_ids:
            audit.record(session, "user.update", resource_type="user", resource_id=user.id, summary=summary)
            await cache.invalidate(session)
    loaded = await session.scalar(
        select(User)
        .options(selectinload(User.teams))
        .where(User.id == user.id)
        .execution_options(populate_existing=True)
    )
    assert loaded is not None
    return loaded
