"""Request and response models of violations and their rule settings."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Kind = Literal["blocked_prompts", "restricted_downloads", "off_hours", "new_network", "privilege_change"]
Severity = Literal["critical", "warning", "info"]
Status = Literal["open", "acknowledged", "resolved"]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class ViolationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: str
    severity: str
    status: str
    subject_type: str
    subject_id: str
    subject_name: str
    team_id: uuid.UUID | None
    evidence: dict[str, Any]
    event_count: int
    first_seen: datetime
    last_seen: datetime
    action: str | None
    acked_at: datetime | None
    acked_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    comment: str | None
    created_at: datetime


class ViolationList(BaseModel):
    items: list[ViolationOut]
    next_cursor: str | None = None
    total: int | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class RuleSettings(BaseModel):
    """One rule's settings; only the fields the rule has are kept (see violation_rules.DEFAULTS)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    severity: Severity | None = None
    threshold: int | None = Field(None, ge=1, le=100_000)
    window_minutes: int | None = Field(None, ge=1, le=10_080)
    window_days: int | None = Field(None, ge=1, le=365)
    lookback_days: int | None = Field(None, ge=1, le=365)
    start_hour: int | None = Field(None, ge=0, le=23)
    end_hour: int | None = Field(None, ge=1, le=24)
    timezone: str | None = Field(None, max_length=64)
    codes: list[Code] | None = Field(None, min_length=1, max_length=10)
    levels: list[Literal["internal", "confidential", "restricted"]] | None = Field(None, min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError("unknown time zone") from exc
        return value

    @model_validator(mode="after")
    def _hours(self) -> RuleSettings:
        if self.start_hour is not None and self.end_hour is not None and self.start_hour >= self.end_hour:
            raise ValueError("start_hour must be before end_hour")
        return self


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blocked_prompts: RuleSettings | None = None
    restricted_downloads: RuleSettings | None = None
    off_hours: RuleSettings | None = None
    new_network: RuleSettings | None = None
    privilege_change: RuleSettings | None = None
    auto_suspend: RuleSettings | None = None


class RulesOut(BaseModel):
    rules: dict[str, dict[str, Any]]
