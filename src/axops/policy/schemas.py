from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from axops.auth.permissions import ROLE_DESCRIPTIONS

SubjectType = Literal["team", "role", "everyone"]
Action = Literal["call", "deploy", "download"]
Effect = Literal["allow", "deny"]
# `*`, or a gateway route / registry model name (the wider of the two patterns: gateway/schemas.py ModelName)
Resource = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^(\*|[\w.:/@\-]+)$")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessRuleCreate(Strict):
    subject_type: SubjectType
    subject: str | None = Field(
        None,
        max_length=64,
        description="The team's id (subject_type team) or the role's name (role); none for everyone",
    )
    action: Action
    resource: Resource = Field(description="A model name (deploy, download), a route name (call), or `*`")
    effect: Effect
    description: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _subject(self) -> AccessRuleCreate:
        if self.subject_type == "everyone":
            if self.subject:
                raise ValueError("subject: leave it empty for everyone")
            self.subject = ""
        elif self.subject_type == "role":
            if self.subject not in ROLE_DESCRIPTIONS:
                raise ValueError(f"subject: a role ({', '.join(ROLE_DESCRIPTIONS)})")
        else:
            try:
                self.subject = str(uuid.UUID(self.subject or ""))
            except ValueError:
                raise ValueError("subject: a team's id") from None
        return self


class AccessRuleUpdate(Strict):
    subject_type: SubjectType | None = None
    subject: str | None = Field(None, max_length=64)
    action: Action | None = None
    resource: Resource | None = None
    effect: Effect | None = None
    description: str | None = Field(None, max_length=500)


class AccessRuleOut(BaseModel):
    id: uuid.UUID
    subject_type: str
    subject: str
    subject_name: str | None = Field(None, description="The team's name for a team rule")
    action: str
    resource: str
    effect: str
    description: str
    created_at: datetime
    updated_at: datetime


class TransferSet(Strict):
    team_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    external: Literal["allowed", "forbidden"]

    @model_validator(mode="after")
    def _one(self) -> TransferSet:
        if (self.team_id is None) == (self.api_key_id is None):
            raise ValueError("name exactly one of team_id and api_key_id")
        return self


class TransferOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID | None = None
    team_name: str | None = None
    api_key_id: uuid.UUID | None = None
    api_key_name: str | None = None
    external: str
    updated_at: datetime


class MyPolicies(BaseModel):
    """What applies to the caller."""

    rules: list[AccessRuleOut]
    external_transfer: Literal["allowed", "forbidden"]
