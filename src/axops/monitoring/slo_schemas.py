"""Request and response models of SLOs (`/api/monitoring/slos`), the monthly SLA report and the model
dashboards (`/api/monitoring/models`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from axops.core.text import no_control

SloName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_control)]
RouteName = Annotated[str, Field(min_length=1, max_length=200)]
Kind = Literal["availability", "success"]
Window = Literal["rolling_30d", "calendar_month"]
Target = Annotated[float, Field(gt=50, lt=100, description="Percent, e.g. 99.5")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SloCreate(Strict):
    name: SloName
    description: str = Field("", max_length=2000)
    route: RouteName | None = Field(None, description="The gateway route measured (or give deployment_id)")
    deployment_id: uuid.UUID | None = Field(None, description="A deployment: its route is measured")
    kind: Kind = "availability"
    target: Target | None = Field(None, description="Default: 99.5 for availability, 99 for success")
    window: Window = "rolling_30d"
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: yours)")

    @model_validator(mode="after")
    def _one_target(self) -> SloCreate:
        if (self.route is None) == (self.deployment_id is None):
            raise ValueError("name either a route or a deployment_id")
        return self


class SloUpdate(Strict):
    name: SloName | None = None
    description: str | None = Field(None, max_length=2000)
    kind: Kind | None = None
    target: Target | None = None
    window: Window | None = None


class SloStatus(BaseModel):
    attainment: float | None = Field(description="Fraction 0..1 over the window so far; null without traffic")
    met: bool
    budget_remaining: float = Field(description="1 - bad / allowed bad; below 0 when overspent")
    bad: int = Field(description="Down minutes (availability) or 5xx answers (success)")
    allowed_bad: float
    requests: int
    errors_5xx: int
    errors_4xx: int = Field(description="4xx answers, 429 included: counted as good")
    downtime_minutes: int
    minutes: int = Field(description="Closed minutes of the window so far")
    burn_rate_1h: float
    burn_rate_6h: float
    window_start: datetime
    window_end: datetime


class SloOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str | None
    name: str
    description: str
    route: str
    deployment_id: uuid.UUID | None
    kind: Kind
    target: float
    window: Window
    created_at: datetime
    updated_at: datetime
    status: SloStatus


# --- the monthly SLA report ----------------------------------------------------------------------


class ReportDay(BaseModel):
    day: str  # YYYY-MM-DD (UTC)
    bad: int
    requests: int
    errors_5xx: int
    downtime_minutes: int


class ReportIncident(BaseModel):
    start: datetime
    end: datetime  # exclusive: the minute after the last bad one
    minutes: int


class ReportEntry(BaseModel):
    id: uuid.UUID
    name: str
    team_name: str | None
    route: str
    kind: Kind
    target: float
    attainment: float | None
    met: bool
    budget_remaining: float
    requests: int
    errors_5xx: int
    errors_4xx: int
    rate_limited: int
    downtime_minutes: int
    bad: int
    minutes: int
    worst_days: list[ReportDay]
    incidents: list[ReportIncident]


class SlaReport(BaseModel):
    month: str
    start: datetime
    end: datetime  # exclusive; now while the month runs
    complete: bool
    generated_at: datetime
    slos: list[ReportEntry]


# --- model dashboards ---------------------------------------------------------------------------


class SloChip(BaseModel):
    id: uuid.UUID
    name: str
    kind: Kind
    target: float
    attainment: float | None
    met: bool
    budget_remaining: float
    burn_rate_1h: float


class ModelRow(BaseModel):
    route: str
    team_id: uuid.UUID | None
    visibility: str
    enabled: bool
    deployment: bool = Field(description="Kept in step with a deployment by serving")
    requests: int  # last 24 h
    error_rate: float | None  # 5xx share
    p95_ms: float | None
    cost: float
    slos: list[SloChip]


class StepFigures(BaseModel):
    t: int  # unix seconds of the step's start
    requests: int
    qps: float
    error_rate: float | None
    client_error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hits: int


class VersionFigures(BaseModel):
    upstream: str
    requests: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hits: int


class ModelDashboard(BaseModel):
    route: str
    start: datetime
    end: datetime
    step: int
    latency_source: Literal["usage_records", "metric_history"] = Field(
        description="Percentiles per step from the requests themselves, or (long ranges) the per-minute history"
    )
    steps: list[StepFigures]
    totals: VersionFigures
    versions: list[VersionFigures]
    slos: list[SloOut]
