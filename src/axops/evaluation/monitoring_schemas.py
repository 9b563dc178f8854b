"""Request and response models of quality monitors (`/api/eval/monitors`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from axops.registry.schemas import ModelName

RouteName = Annotated[str, Field(min_length=1, max_length=200)]
RubricName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
PromptRef = Annotated[str, Field(min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MonitorCreate(Strict):
    name: ModelName
    route: RouteName = Field(description="The gateway route whose production requests are judged")
    judge_route: RouteName = Field(description="The gateway route of the judge model")
    rubric: RubricName = Field(
        description="A built-in rubric that needs no reference (helpfulness, harmlessness, korean_fluency), "
        "or a custom rubric's name with `criteria`"
    )
    criteria: str | None = Field(None, min_length=1, max_length=4000, description="A custom rubric's criteria")
    prompt: PromptRef | None = Field(None, description="A custom rubric as a saved prompt (name@label or name:N)")
    scale: int = Field(5, ge=2, le=10, description="The judge's score scale 1..scale")
    sample_rate: float = Field(0.05, gt=0, le=1, description="Share of eligible requests judged")
    max_per_hour: int = Field(60, ge=1, le=10_000, description="At most this many judged in any hour")
    enabled: bool = True
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: yours)")


class MonitorUpdate(Strict):
    judge_route: RouteName | None = None
    rubric: RubricName | None = None
    criteria: str | None = Field(None, min_length=1, max_length=4000)
    prompt: PromptRef | None = None
    scale: int | None = Field(None, ge=2, le=10)
    sample_rate: float | None = Field(None, gt=0, le=1)
    max_per_hour: int | None = Field(None, ge=1, le=10_000)
    enabled: bool | None = None


class MonitorOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str | None = None
    name: str
    route: str
    judge_route: str
    rubric: str
    criteria: str | None
    prompt: str | None
    scale: int
    sample_rate: float
    max_per_hour: int
    enabled: bool
    watermark_at: datetime
    last_swept_at: datetime | None
    last_error: str | None
    skipped: int
    judged_last_hour: int = 0
    avg_last_24h: float | None = None
    n_last_24h: int = 0
    created_by_name: str | None = None
    created_at: datetime
    updated_at: datetime


class MonitorList(BaseModel):
    items: list[MonitorOut]
    next_cursor: str | None = None
    total: int | None = None


class QualitySeriesPoint(BaseModel):
    t: datetime = Field(description="Start of the bucket (UTC)")
    avg: float | None = Field(description="Mean score 0..1 of the bucket's judged requests")
    n: int = Field(description="Requests judged with a score")
    p10: float | None = Field(description="10th percentile of the scores")
    errors: int = Field(description="Sampled requests the judge could not score")


class MonitorSeries(BaseModel):
    monitor_id: uuid.UUID
    route: str
    rubric: str
    step: str
    start: datetime
    end: datetime
    points: list[QualitySeriesPoint]


class ScoreOut(BaseModel):
    id: uuid.UUID
    usage_record_id: uuid.UUID
    request_id: str | None
    created_at: datetime
    judged_at: datetime
    rubric: str
    score: float | None
    raw: int | None
    reasoning: str
    error: str | None


class ScoreList(BaseModel):
    items: list[ScoreOut]
    next_cursor: str | None = None
