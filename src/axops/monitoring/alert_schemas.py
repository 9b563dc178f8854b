"""Request and response models of alert rules, alerts, silences and notifications (`/api/alerts`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from axops.auth.schemas import DisplayName
from axops.monitoring import alert_rules

Severity = Literal["critical", "warning", "info"]
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
LabelValue = Annotated[str, StringConstraints(max_length=200)]
Expression = Annotated[str, StringConstraints(min_length=1, max_length=alert_rules.MAX_LENGTH)]
Duration = Annotated[str, StringConstraints(min_length=2, max_length=16)]
RuleName = Annotated[DisplayName, StringConstraints(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RuleFields(Strict):
    description: str | None = Field(None, max_length=2000)
    expression: Expression | None = None
    for_: Duration | None = Field(None, alias="for", description="How long the condition holds before firing: 0s..24h")
    severity: Severity | None = None
    labels: dict[LabelKey, LabelValue] | None = Field(None, max_length=20)
    annotations: dict[LabelKey, Annotated[str, StringConstraints(max_length=2000)]] | None = Field(
        None, max_length=10, description="Templates: only {{value}} and {{labels.x}} are replaced"
    )
    group_by: list[LabelKey] | None = Field(None, max_length=10)
    repeat_interval: Duration | None = Field(None, description="Re-notify while firing: 1m..7d (default 4h)")
    channel_ids: list[uuid.UUID] | None = Field(None, max_length=20)
    enabled: bool | None = None

    @field_validator("labels")
    @classmethod
    def _reserved(cls, value):
        if value and {"alertname", "severity", "team"} & set(value):
            raise ValueError("alertname, severity and team are set by the rule")
        return value


class RuleCreate(_RuleFields):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: RuleName
    expression: Expression
    severity: Severity = "warning"
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: yours)")


class RuleUpdate(_RuleFields):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: RuleName | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str | None = None
    name: str
    description: str
    expression: str
    for_: str = Field(alias="for")
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    group_by: list[str]
    repeat_interval: str
    channel_ids: list[uuid.UUID]
    enabled: bool
    builtin: str | None
    last_evaluated_at: datetime | None
    last_error: str | None
    firing: int = 0
    pending: int = 0
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None = None
    total: int | None = None


class PreviewIn(Strict):
    expression: Expression


class PreviewSample(BaseModel):
    labels: dict[str, str]
    value: float
    matches: bool  # the condition holds: this label set would be pending or firing


class PreviewOut(BaseModel):
    samples: list[PreviewSample]
    total: int
    has_condition: bool


class BuiltinInstall(Strict):
    team_id: uuid.UUID | None = None
    enabled: bool = False


class AlertOut(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    rule_name: str
    team_id: uuid.UUID
    severity: str
    fingerprint: str
    labels: dict[str, str]
    state: str
    value: float | None
    summary: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    silenced: bool
    acked_at: datetime | None
    acked_by_name: str | None


class AlertList(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None = None
    total: int | None = None


class Matcher(Strict):
    name: LabelKey
    op: Literal["=", "!="] = "="
    value: LabelValue


class SilenceCreate(Strict):
    matchers: list[Matcher] = Field(min_length=1, max_length=20)
    starts_at: datetime | None = None
    duration: Duration = Field("2h", description="1m..30d from starts_at")
    comment: str = Field("", max_length=1000)
    team_id: uuid.UUID | None = None


class SilenceOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by_name: str | None
    created_at: datetime
    active: bool


class SilenceList(BaseModel):
    items: list[SilenceOut]
    next_cursor: str | None = None


class NotificationOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    rule_id: uuid.UUID | None
    group_key: str
    status: str
    channel_ids: list[uuid.UUID]
    payload: dict
    created_at: datetime


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None
