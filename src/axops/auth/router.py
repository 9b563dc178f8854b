"""HTTP routes of the auth domain: parse, authorise, call the service, shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from axops.auth import apikeys, audit, service, teams
from axops.auth.deps import CurrentPrincipal, Principal, Session, get_principal, require
from axops.auth.models import User
from axops.auth.permissions import PERMISSIONS, ROLE_DESCRIPTIONS
from axops.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeysRevokeAll,
    ApiKeysRevoked,
    AuditDayCount,
    AuditEventOut,
    AuditPerDay,
    LoginRequest,
    MemberList,
    MemberOut,
    MfaChallengeOut,
    PasswordChange,
    PasswordReset,
    PermissionOut,
    RoleOut,
    RolesOut,
    TeamCreate,
    TeamOut,
    TeamRef,
    TeamUpdate,
    TokenPair,
    UserCreate,
    UserInfo,
    UserOut,
    UserUpdate,
)
from axops.auth.two_factor import require_recent_mfa
from axops.core.errors import Forbidden, NotAuthenticated
from axops.core.pagination import Page, json_response
from axops.core.state import AppState, Db, State
from axops.core.text import content_disposition

router = APIRouter(prefix="/api")
Limit = Annotated[int, Query(ge=1, le=500)]


def _policy(state: AppState) -> service.TokenPolicy:
    s = state.settings
    return service.TokenPolicy(state.secret_key, s.access_token_ttl_seconds, s.refresh_token_ttl_seconds)


def _user_info(state: AppState, user: User) -> UserInfo:
    permissions = state.role_permissions.get(user.role, frozenset())
    return UserInfo(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        role=user.role,
        is_active=user.is_active,
        teams=[TeamRef.model_validate(t) for t in user.teams],
        permissions=sorted(permissions),
        auth="jwt",
        created_at=user.created_at,
    )


REFRESH_COOKIE = "axops_refresh"
REFRESH_COOKIE_PATH = "/api/auth"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "axops"


def _tokens(request: Request, response: Response, state: AppState, issued: service.IssuedTokens) -> TokenPair:
    """The access token in the body; the refresh token only in an httpOnly cookie that scripts cannot read."""
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=state.settings.refresh_token_ttl_seconds,
        path=REFRESH_COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return TokenPair(
        access_token=issued.access_token, expires_in=issued.expires_in, user=_user_info(state, issued.user)
    )


def _refresh_cookie(request: Request) -> str | None:
    """The refresh cookie, when the request shows it comes from a page of this origin: a cross-site form or
    link cannot send a custom header, and a cross-origin script that tries is stopped by CORS."""
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        return None
    return request.cookies.get(REFRESH_COOKIE)


# --- auth ----------------------------------------------------------------------------------


@router.post("/auth/login", tags=["auth"], responses={401: {}, 429: {}})
async def login(
    body: LoginRequest, request: Request, response: Response, session: Session, state: State
) -> TokenPair | MfaChallengeOut:
    """Tokens; or, for a user with two-factor on, a challenge to send with a code to /api/auth/login/mfa."""
    issued = await service.login(
        session, state.db.sessionmaker, state.throttle, _policy(state), body.username, body.password
    )
    if isinstance(issued, service.MfaChallenge):
        return MfaChallengeOut(challenge=issued.challenge, expires_in=issued.expires_in)
    return _tokens(request, response, state, issued)


@router.post("/auth/refresh", tags=["auth"], responses={401: {}, 403: {}})
async def refresh(request: Request, response: Response, session: Session, state: State) -> TokenPair:
    """A new access token for the session of the refresh cookie (which rotates); send `X-Requested-With: axops`."""
    token = _refresh_cookie(request)
    if not token and REFRESH_COOKIE in request.cookies:
        raise Forbidden(f"Refreshing with the session cookie needs the header 'X-Requested-With: {CSRF_VALUE}'.")
    if not token:
        raise NotAuthenticated("No session cookie: log in.")
    issued = await service.refresh(session, state.db.sessionmaker, _policy(state), token)
    return _tokens(request, response, state, issued)


@router.post("/auth/logout", tags=["auth"], status_code=204)
async def logout(request: Request, response: Response, session: Session) -> None:
    """End the session of the bearer token and of the refresh cookie (either suffices), and clear the cookie."""
    token = _refresh_cookie(request)
    principal = None
    if request.headers.get("authorization") or not token:
        try:
            principal = await get_principal(request)
        except NotAuthenticated:
            if not token:
                raise
    await service.logout(session, principal, token)
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


@router.get("/auth/roles", tags=["auth"])
async def roles(state: State, _: CurrentPrincipal) -> RolesOut:
    matrix = state.role_permissions
    return RolesOut(
        roles=[
            RoleOut(name=r, description=ROLE_DESCRIPTIONS.get(r, ""), permissions=sorted(matrix.get(r, ())))
            for r in ROLE_DESCRIPTIONS
        ],
        permissions=[PermissionOut(name=n, description=d) for n, d in PERMISSIONS.items()],
    )


@router.get("/user/info", tags=["user"])
async def user_info(principal: CurrentPrincipal) -> UserInfo:
    return UserInfo(**principal.profile, permissions=sorted(principal.permissions), auth=principal.auth)


@router.post("/user/password", tags=["user"], status_code=204)
async def change_password(body: PasswordChange, principal: CurrentPrincipal, session: Session) -> None:
    await service.change_own_password(session, principal, body.current_password, body.new_password)


# --- users (admin) -------------------------------------------------------------------------

UsersAdmin = Annotated[Principal, require("users:admin")]
TeamsAdmin = Annotated[Principal, require("teams:admin")]


@router.get("/users", tags=["users"])
async def list_users(
    _: UsersAdmin,
    session: Session,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[UserOut]:
    rows, next_cursor = await service.list_users(session, q, cursor, limit)
    return Page(items=[UserOut.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("/users", tags=["users"], status_code=201)
async def create_user(body: UserCreate, _: UsersAdmin, session: Session) -> UserOut:
    return UserOut.model_validate(await service.create_user(session, body))


@router.get("/users/{user_id}", tags=["users"])
async def get_user(user_id: uuid.UUID, _: UsersAdmin, session: Session) -> UserOut:
    return UserOut.model_validate(await service.get_user(session, user_id))


@router.patch("/users/{user_id}", tags=["users"])
async def update_user(user_id: uuid.UUID, body: UserUpdate, _: UsersAdmin, session: Session) -> UserOut:
    return UserOut.model_validate(await service.update_user(session, user_id, body))


@router.post("/users/{user_id}/password", tags=["users"], status_code=204)
async def reset_password(user_id: uuid.UUID, body: PasswordReset, _: UsersAdmin, session: Session) -> None:
    await service.reset_password(session, user_id, body.new_password)


# --- teams (admin) -------------------------------------------------------------------------


def _team_out(row) -> TeamOut:
    team, count = row
    return TeamOut(
        id=team.id,
        name=team.name,
        description=team.description,
        member_count=count,
        created_at=team.created_at,
        is_default=team.is_default,
    )


@router.get("/teams", tags=["teams"])
async def list_teams(
    _: TeamsAdmin,
    session: Session,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[TeamOut]:
    rows, next_cursor = await teams.list_teams(session, q, cursor, limit)
    return Page(items=[_team_out(r) for r in rows], next_cursor=next_cursor)


@router.post("/teams", tags=["teams"], status_code=201)
async def create_team(body: TeamCreate, _: TeamsAdmin, session: Session) -> TeamOut:
    return _team_out(await teams.create_team(session, body))


@router.get("/teams/{team_id}", tags=["teams"])
async def get_team(team_id: uuid.UUID, _: TeamsAdmin, session: Session) -> TeamOut:
    return _team_out(await teams.get_team(session, team_id))


@router.patch("/teams/{team_id}", tags=["teams"])
async def update_team(team_id: uuid.UUID, body: TeamUpdate, _: TeamsAdmin, session: Session) -> TeamOut:
    return _team_out(await teams.update_team(session, team_id, body))


@router.get("/teams/{team_id}/members", tags=["teams"])
async def list_members(team_id: uuid.UUID, _: TeamsAdmin, session: Session) -> MemberList:
    return MemberList(items=[MemberOut.model_validate(u) for u in await teams.list_members(session, team_id)])


@router.put("/teams/{team_id}/members/{user_id}", tags=["teams"], status_code=204)
async def add_member(team_id: uuid.UUID, user_id: uuid.UUID, _: TeamsAdmin, session: Session) -> None:
    await teams.add_member(session, team_id, user_id)


@router.delete("/teams/{team_id}/members/{user_id}", tags=["teams"], status_code=204)
async def remove_member(team_id: uuid.UUID, user_id: uuid.UUID, _: TeamsAdmin, session: Session) -> None:
    await teams.remove_member(session, team_id, user_id)


# --- API keys ------------------------------------------------------------------------------

KeyWriter = Annotated[Principal, require("apikeys:write")]


@router.post("/apikey/create", tags=["apikey"], status_code=201)
async def create_api_key(body: ApiKeyCreate, principal: KeyWriter, session: Session) -> ApiKeyCreated:
    return await apikeys.create_key(session, principal, body)


@router.get("/apikey", tags=["apikey"])
async def list_api_keys(
    principal: KeyWriter, session: Session, limit: Limit = 50, cursor: str | None = None, all: bool = False
) -> Page[ApiKeyOut]:
    items, next_cursor = await apikeys.list_keys(session, principal, cursor, limit, all_users=all)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/apikey/revoke-all", tags=["apikey"], dependencies=[Depends(require_recent_mfa)])
async def revoke_all_api_keys(body: ApiKeysRevokeAll, principal: KeyWriter, session: Session) -> ApiKeysRevoked:
    """Every active key of the caller (or, for an Admin, of `user_id`): a two-factor code confirmed in the
    last 5 minutes is needed when the caller has two-factor on, as for deleting a model."""
    return ApiKeysRevoked(revoked=await apikeys.revoke_all(session, principal, body.user_id))


@router.post("/apikey/{key_id}/revoke", tags=["apikey"])
async def revoke_api_key(key_id: uuid.UUID, principal: KeyWriter, session: Session) -> ApiKeyOut:
    return await apikeys.revoke_key(session, principal, key_id)


# --- audit ---------------------------------------------------------------------------------

AuditReader = Annotated[Principal, require("audit:read")]


async def _audit_filter(
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> audit.AuditFilter:
    return audit.AuditFilter(actor, action, resource_type, resource_id, since, until)


AuditQuery = Annotated[audit.AuditFilter, Depends(_audit_filter)]
AuditSortKey = Literal["created_at", "actor_name", "action", "resource_type", "outcome"]


@router.get("/audit/logs", tags=["audit"], response_model=Page[AuditEventOut])
async def audit_logs(
    principal: AuditReader,
    session: Session,
    f: AuditQuery,
    limit: Limit = 50,
    cursor: str | None = None,
    sort: AuditSortKey = "created_at",
    order: Literal["asc", "desc"] = "desc",
) -> Response:
    """Events matching the filter, sorted by `sort` then time (newest first unless `order=asc`)."""
    # Rows go out as the SQL gives them, unvalidated (bench/api measures this list); test_audit.py
    # checks them against AuditEventOut.
    rows, next_cursor = await audit.list_events(
        session, principal, f, cursor, limit, audit.AuditSort(sort, order == "desc")
    )
    return json_response({"items": rows, "next_cursor": next_cursor})


@router.get("/audit/logs/per-day", tags=["audit"])
async def audit_per_day(
    principal: AuditReader,
    session: Session,
    f: AuditQuery,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone the days are counted in")] = "UTC",
) -> AuditPerDay:
    """How many events the filter matches on each day, counted by the server over all of them."""
    days = await audit.count_per_day(session, principal, f, tz)
    return AuditPerDay(
        days=[AuditDayCount(day=d["day"], count=d["count"]) for d in days], total=sum(d["count"] for d in days), tz=tz
    )


@router.get(
    "/audit/logs/export.csv",
    tags=["audit"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every matching event, as CSV"}},
)
async def audit_export(principal: AuditReader, f: AuditQuery, db: Db) -> StreamingResponse:
    filters = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(f).items() if v is not None}
    await audit.record_now(db.sessionmaker, "audit.export", summary={"filters": filters})
    return StreamingResponse(
        audit.export_csv(db.sessionmaker, principal, f),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": content_disposition("axops-audit.csv")},
    )
