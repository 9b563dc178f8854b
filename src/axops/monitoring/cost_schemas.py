"""Request and response models of /api/cost."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RouteName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Upstream = Annotated[str, StringConstraints(min_length=1, max_length=400)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuRateIn(Strict):
    gpu_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="A node's nvidia.com/gpu.product value, or `default` for every type not listed"
    )
    hourly_rate: float = Field(ge=0, le=1_000_000, description="Price of one GPU for one hour")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


class GpuRatesIn(Strict):
    rates: list[GpuRateIn] = Field(max_length=200)


class GpuRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    gpu_type: str
    hourly_rate: float
    currency: str
    updated_at: datetime


class DailySpend(BaseModel):
    day: date
    group: str
    cost: float
    requests: int


class MonthSpend(BaseModel):
    month: str
    cost: float


class GroupSpend(BaseModel):
    group: str
    cost: float
    requests: int
    prompt_tokens: int
    completion_tokens: int


class GpuItem(BaseModel):
    kind: Literal["deployment", "training"]
    id: uuid.UUID
    name: str
    team: str
    status: str
    gpu_type: str | None
    gpus: int
    hours: float
    gpu_hours: float
    rate: float
    cost: float


class GpuCost(BaseModel):
    currency: str
    default_rate: float
    total: float
    gpu_hours: float
    items: list[GpuItem]


class SpendOut(BaseModel):
    currency: str = Field(description="The gateway's price currency (GPU rates are assumed to be in it too)")
    since: datetime
    until: datetime
    group_by: str
    scope: Literal["all", "teams"]
    total: float
    daily: list[DailySpend]
    monthly: list[MonthSpend]
    totals: list[GroupSpend]
    gpu: GpuCost


class Projection(BaseModel):
    spent: float
    rate_per_day: float
    rate_stdev: float
    remaining_days: float
    projected: float
    projected_low: float
    projected_high: float


class BudgetBurn(Projection):
    id: uuid.UUID
    scope: Literal["key", "user", "team"]
    subject_id: uuid.UUID
    subject: str
    budget: float
    status: Literal["on_track", "at_risk", "over"]
    runs_out_on: date | None


class ForecastDay(BaseModel):
    day: date
    actual: float | None
    projected: float | None
    low: float | None
    high: float | None


class ForecastOut(Projection):
    currency: str = Field(description="The gateway's price currency (GPU rates are assumed to be in it too)")
    as_of: datetime
    month: str
    method: str
    days: list[ForecastDay]
    budgets: list[BudgetBurn]


class ShiftScenario(Strict):
    kind: Literal["shift"]
    route: RouteName
    percent: float = Field(ge=0, le=100, description="Share of the route's traffic moved")
    to_route: RouteName
    to_upstream: Upstream | None = Field(None, description="A target of to_route; default: its first target")


class CacheScenario(Strict):
    kind: Literal["cache"]
    route: RouteName
    hit_rate: float = Field(ge=0, le=100, description="Percent of the route's requests answered from the cache")


class PriceScenario(Strict):
    kind: Literal["price"]
    upstream: Upstream = Field(description="A target as `<provider>/<model>`")
    input_price: float = Field(ge=0, le=1_000_000, description="Per 1M prompt tokens")
    output_price: float = Field(ge=0, le=1_000_000, description="Per 1M completion tokens")


Scenario = Annotated[ShiftScenario | CacheScenario | PriceScenario, Field(discriminator="kind")]


class SimulateIn(Strict):
    days: int = Field(30, ge=1, le=90, description="The baseline: the last `days` of usage")
    scenarios: list[Scenario] = Field(default_factory=list, max_length=50)


class SimulatedRoute(BaseModel):
    route: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    hit_rate: float
    baseline: float
    projected: float
    delta: float


class SimTarget(BaseModel):
    upstream: str
    input_price: float
    output_price: float


class SimRoute(BaseModel):
    route: str
    targets: list[SimTarget]


class SimulateOut(BaseModel):
    currency: str = Field(description="The gateway's price currency (GPU rates are assumed to be in it too)")
    days: int
    baseline_monthly: float
    projected_monthly: float
    delta: float
    delta_percent: float | None
    routes: list[SimulatedRoute]


class SavingItem(BaseModel):
    kind: Literal["cache", "idle_deployment", "overprovisioned", "cheaper_route"]
    subject: str
    monthly_saving: float
    evidence: dict[str, Any]
    link: str


class SavingsOut(BaseModel):
    currency: str
    total: float
    items: list[SavingItem]
    notes: list[str]
