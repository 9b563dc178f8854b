"""Guardrail policy shapes: the checks a policy runs, its scope and direction, and the tester's answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from axops import pii
from axops.guardrails import lexicon

Action = Literal["allow", "mask", "block"]
Decide = Literal["allow", "block"]  # checks whose hits cannot be cut out of the text
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
RouteName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PolicyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PiiCheck(_Strict):
    entities: list[str] | None = Field(None, max_length=20, description="PII kinds (null: all); see axops.pii")
    action: Action = "mask"
    restore: bool = Field(False, description="Put the masked values back into the answer")

    @field_validator("entities")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = sorted(set(v) - set(pii.ALL_ENTITIES))
            if unknown:
                raise ValueError(f"unknown PII kinds: {', '.join(unknown)}")
        return v


class BannedWordsCheck(_Strict):
    words: list[Word] = Field(min_length=1, max_length=1000)
    action: Action = "block"


class HarmfulCheck(_Strict):
    categories: list[Category] | None = Field(None, max_length=20, description="null: every category")
    action: Decide = "block"
    moderation_route: RouteName | None = None
    moderation_api: Literal["moderation", "guard_chat"] = Field(
        "moderation",
        description="moderation: the route's upstream answers OpenAI's /moderations; "
        "guard_chat: a guard chat model answering 'safe' or 'unsafe' (docs/GUARDRAILS.md)",
    )
    on_model_error: Literal["allow", "block"] = Field(
        "allow", description="when the moderation route can't answer: allow (recorded) or block"
    )

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = sorted(set(v) - set(lexicon.CATEGORIES))
            if unknown:
                raise ValueError(f"unknown categories: {', '.join(unknown)}")
        return v


class InjectionCheck(_Strict):
    action: Decide = "block"
    classifier_route: RouteName | None = None
    on_model_error: Literal["allow", "block"] = Field(
        "allow", description="when the classifier route can't answer: allow (recorded) or block"
    )


class Checks(_Strict):
    pii: PiiCheck | None = None
    banned_words: BannedWordsCheck | None = None
    harmful: HarmfulCheck | None = None
    injection: InjectionCheck | None = None

    @model_validator(mode="after")
    def _some(self) -> Checks:
        if not any((self.pii, self.banned_words, self.harmful, self.injection)):
            raise ValueError("a policy needs at least one check")
        return self


Scope = Literal["global", "route", "team", "key"]
Direction = Literal["input", "output", "both"]


class PolicyCreate(_Strict):
    name: PolicyName
    description: str = Field("", max_length=500)
    scope: Scope = "global"
    target_id: uuid.UUID | None = Field(None, description="The route, team or API key id (null for global)")
    direction: Direction = "both"
    checks: Checks
    enabled: bool = True

    @model_validator(mode="after")
    def _target(self) -> PolicyCreate:
        if (self.scope == "global") != (self.target_id is None):
            raise ValueError("target_id is required for route, team and key scopes and must be empty for global")
        return self


class PolicyUpdate(_Strict):
    name: PolicyName | None = None
    description: str | None = Field(None, max_length=500)
    scope: Scope | None = None
    target_id: uuid.UUID | None = None
    direction: Direction | None = None
    checks: Checks | None = None
    enabled: bool | None = None


class PolicyOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    scope: Scope
    target_id: uuid.UUID | None
    target_name: str | None = Field(None, description="The route's model name, team's or key's name")
    direction: Direction
    checks: Checks
    enabled: bool
    created_at: datetime
    updated_at: datetime


class PolicyList(BaseModel):
    items: list[PolicyOut]


class TestRequest(_Strict):
    text: str = Field(min_length=1, max_length=1_000_000)
    route: RouteName | None = Field(None, description="Run the policies that apply to this route and the caller")
    policy_id: uuid.UUID | None = Field(None, description="Run this policy only")
    direction: Literal["input", "output"] = "input"


class CheckVerdict(BaseModel):
    policy_id: uuid.UUID | None
    policy: str
    check: str
    action: Action = Field(description="What this check decided: allow (nothing found), mask or block")
    kinds: list[str] = Field(description="What was found (PII kinds, 'banned_word', categories...)")
    hits: int


class TestResult(BaseModel):
    action: Action
    masked_text: str | None = Field(None, description="The text as it would be sent, when masked")
    verdicts: list[CheckVerdict]


class DecisionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    request_id: str | None
    policy_id: uuid.UUID | None
    policy_name: str
    check: str
    kinds: str
    action: str
    direction: str
    excerpt: str
    route: str | None
    api_key_id: uuid.UUID | None
    user_id: uuid.UUID | None
    team_id: uuid.UUID | None


class DecisionList(BaseModel):
    items: list[DecisionOut]
