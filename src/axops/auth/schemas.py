from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from axops.core.text import no_control

Role = Literal["admin", "operator", "developer", "viewer"]
Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
NewPassword = Field(min_length=12, max_length=256)
# A team's or an API key's name: trimmed, not blank, one line (the web form checks the same: web/src/rules.ts).
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(no_control)
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(no_control)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class TeamRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    role: Role
    is_active: bool
    teams: list[TeamRef]
    created_at: datetime
    updated_at: datetime


class UserInfo(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    role: Role
    is_active: bool
    teams: list[TeamRef]
    permissions: list[str]
    auth: Literal["jwt", "apikey"]
    created_at: datetime


class MfaChallengeOut(BaseModel):
    """Password accepted; two-factor is on: POST the challenge and a code to /api/auth/login/mfa."""

    mfa_required: Literal[True] = True
    challenge: str
    expires_in: int


class TokenPair(BaseModel):
    """The access token; the refresh token travels only in the httpOnly `axops_refresh` cookie (path /api/auth)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserInfo


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = NewPassword


class PasswordReset(Strict):
    new_password: str = NewPassword


class UserCreate(Strict):
    username: str = Username
    password: str = NewPassword
    display_name: DisplayName = ""
    email: EmailStr | None = None
    role: Role = "viewer"
    team_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)


class UserUpdate(Strict):
    display_name: DisplayName | None = None
    email: EmailStr | None = None
    role: Role | None = None
    is_active: bool | None = None


class TeamCreate(Strict):
    name: Label
    description: str = Field("", max_length=2000)


class TeamUpdate(Strict):
    name: Label | None = None
    description: str | None = Field(None, max_length=2000)


class TeamOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    member_count: int
    created_at: datetime
    is_default: bool = False  # the team users created without one are placed in (the UI names it in its language)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    display_name: str
    role: Role


class MemberList(BaseModel):
    items: list[MemberOut]


class RoleOut(BaseModel):
    name: str
    description: str
    permissions: list[str]


class PermissionOut(BaseModel):
    name: str
    description: str


class RolesOut(BaseModel):
    roles: list[RoleOut]
    permissions: list[PermissionOut]


class ApiKeyCreate(Strict):
    name: Label
    team_id: uuid.UUID | None = None
    scopes: list[str] | None = Field(None, max_length=64)
    models: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        None, max_length=200, description="Gateway models this key may call (default: all)"
    )
    log_content: bool = Field(False, description="Keep request and answer text in the gateway's logs, PII-masked")
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiKeysRevokeAll(Strict):
    user_id: uuid.UUID | None = Field(None, description="Whose keys (Admins only); default: the caller's own")


class ApiKeysRevoked(BaseModel):
    revoked: int = Field(description="How many active keys were revoked")


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    models: list[str] | None = None
    log_content: bool = False
    team_id: uuid.UUID | None
    team_name: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "revoked", "expired"]


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown once; only its hash is stored.")


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    actor_type: Literal["user", "apikey", "system", "anonymous"]
    action: str
    resource_type: str | None
    resource_id: str | None
    team_id: uuid.UUID | None
    summary: dict[str, Any]
    request_id: str | None
    ip: str | None
    outcome: Literal["success", "failure"]


class AuditDayCount(BaseModel):
    day: date
    count: int


class AuditPerDay(BaseModel):
    """Events per calendar day over every event the filter matches (not one page), oldest day first;
    days without events are left out."""

    days: list[AuditDayCount]
    total: int
    tz: str
