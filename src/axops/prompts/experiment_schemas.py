"""Request and response models of A/B experiments, feedback and suggestions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops.prompts.refs import LABEL_PATTERN

Metric = Literal["feedback", "error_rate", "latency"]
Verdict = Literal["b_better", "a_better", "no_difference_yet"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variant(Strict):
    version: int = Field(ge=1, lt=2**31)
    weight: float = Field(gt=0, le=1_000_000)


class PromptExperimentIn(Strict):
    label: str = Field(pattern=LABEL_PATTERN)
    name: str = Field("", max_length=200)
    variants: list[Variant] = Field(min_length=2, max_length=4, description="The first is the control (A)")
    metric: Metric = "feedback"
    max_duration_s: int | None = Field(None, ge=60, le=365 * 86400)
    max_samples: int | None = Field(None, ge=2, le=1_000_000_000, description="Requests in all variants")
    auto_promote: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> PromptExperimentIn:
        if len({v.version for v in self.variants}) != len(self.variants):
            raise ValueError("Each version can be a variant once.")
        return self


class StopIn(Strict):
    reason: str = Field("", max_length=500)


class PromoteIn(Strict):
    version: int | None = Field(None, ge=1, lt=2**31, description="Default: the winner of the test")


class VariantResult(BaseModel):
    version: int
    weight: float
    requests: int
    errors: int
    error_rate: float | None
    latency_p50: float | None
    latency_p95: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    feedback_count: int
    feedback_mean: float | None
    feedback_ci: tuple[float, float] | None


class SeriesPoint(BaseModel):
    ts: datetime
    version: int
    requests: int
    errors: int
    latency_p50: float | None
    feedback_count: int
    feedback_mean: float | None


class TestOut(BaseModel):
    metric: Metric
    method: str
    control_version: int
    variant_version: int
    difference: float | None = Field(description="variant - control: of the feedback mean, error rate or mean latency")
    ci: tuple[float, float] | None
    p_value: float | None
    alpha: float
    verdict: Verdict
    needed_per_variant: int | None = Field(description="Samples per variant for 80% power at this effect")
    remaining_per_variant: int | None = Field(description="How many more the smaller variant needs")


class ResultsOut(BaseModel):
    variants: list[VariantResult]
    series: list[SeriesPoint]
    test: TestOut | None = Field(description="The control against the best challenger")
    tests: list[TestOut] = Field(description="The control against each challenger")
    samples: int = Field(description="Requests in all variants (what max_samples counts)")


class PromptExperimentOut(BaseModel):
    id: uuid.UUID
    prompt_name: str
    label: str
    name: str
    status: Literal["running", "stopped", "promoted"]
    variants: list[Variant]
    metric: Metric
    max_duration_s: int | None
    max_samples: int | None
    auto_promote: bool
    started_at: datetime
    ended_at: datetime | None
    ended_reason: str | None
    winner_version: int | None
    created_by_name: str | None
    results: ResultsOut | None = None


class PromptExperimentList(BaseModel):
    items: list[PromptExperimentOut]


FeedbackName = Annotated[str, Field(pattern=LABEL_PATTERN, description="What is scored: 'user' by default")]


class FeedbackIn(Strict):
    request_id: str = Field(min_length=1, max_length=64, description="The x-request-id of a gateway response")
    score: float = Field(ge=0, le=1)
    comment: str = Field("", max_length=2000)
    name: FeedbackName = "user"


class FeedbackOut(BaseModel):
    id: uuid.UUID
    request_id: str
    name: str
    score: float
    comment: str
    prompt_name: str | None
    prompt_version: int | None
    created_at: datetime


class SuggestIn(Strict):
    version: int = Field(ge=1, lt=2**31)
    route: str = Field(min_length=1, max_length=200, description="The gateway route that writes the suggestion")
    goal: str = Field("", max_length=2000, description="What the new version should do better")


class Candidate(BaseModel):
    kind: Literal["text", "chat"]
    template: str | list[dict[str, str]]


class SuggestDiffLine(BaseModel):
    op: Literal[" ", "+", "-"]
    text: str
    message_index: int | None = None


class SuggestOut(BaseModel):
    candidate: Candidate
    explanation: str
    diff: list[SuggestDiffLine]
    base_version: int
    route: str
