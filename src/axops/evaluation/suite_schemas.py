"""Request and response models of evaluation suites, their results and the promotion gate."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from axops.registry.schemas import ModelName

Op = Literal[">=", "<="]
Tokenizer = Literal["auto", "morpheme", "word", "character"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class Threshold(Strict):
    metric: str = Field(
        min_length=1,
        max_length=100,
        description="A metric of the suite (`bleu`, `exact_match`, …) or one of its single-answer judges as "
        "`judge:<name>`; scores are fractions in [0, 1]",
    )
    op: Op = ">="
    value: Annotated[float, AfterValidator(_finite)]


class SuiteCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=10_000)
    eval_set_id: uuid.UUID
    metrics: list[dict[str, Any]] = Field(default_factory=list, max_length=30)
    judges: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    tokenizer: Tokenizer = "auto"
    sample_size: int | None = Field(
        None, ge=1, le=1_000_000, description="A seeded sample of N rows; all rows if empty"
    )
    thresholds: list[Threshold] = Field(default_factory=list, max_length=50)
    model_id: uuid.UUID | None = Field(None, description="The model whose production promotions this suite gates")
    target: dict[str, Any] | None = Field(
        None, description="What scheduled and triggered runs evaluate: a target as in runs (route, deployment, prompt)"
    )
    run_on_new_version: bool = Field(False, description="Run when a version of the model becomes ready")
    interval_hours: int | None = Field(None, ge=1, le=8760, description="Run every N hours")
    team_id: uuid.UUID | None = None


class SuiteUpdate(Strict):
    name: ModelName | None = None
    description: str | None = Field(None, max_length=10_000)
    eval_set_id: uuid.UUID | None = None
    metrics: list[dict[str, Any]] | None = Field(None, max_length=30)
    judges: list[dict[str, Any]] | None = Field(None, max_length=10)
    tokenizer: Tokenizer | None = None
    sample_size: int | None = Field(None, ge=1, le=1_000_000)
    thresholds: list[Threshold] | None = Field(None, max_length=50)
    model_id: uuid.UUID | None = None
    target: dict[str, Any] | None = None
    run_on_new_version: bool | None = None
    interval_hours: int | None = Field(None, ge=1, le=8760)


class VerdictItem(BaseModel):
    metric: str
    op: Op
    value: float
    actual: float | None = Field(description="The run's mean of the metric (None: no row had a score)")
    passed: bool


class SuiteRunBrief(BaseModel):
    id: uuid.UUID
    status: str
    passed: bool | None
    model_version_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None


class SuiteOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str | None = None
    name: str
    description: str
    eval_set_id: uuid.UUID
    eval_set_name: str | None = None
    metrics: list[dict[str, Any]]
    judges: list[dict[str, Any]]
    tokenizer: str
    sample_size: int | None
    thresholds: list[Threshold]
    model_id: uuid.UUID | None
    model_name: str | None = None
    target: dict[str, Any] | None
    run_on_new_version: bool
    interval_hours: int | None
    last_scheduled_at: datetime | None
    created_by_name: str | None = None
    created_at: datetime
    updated_at: datetime
    last_run: SuiteRunBrief | None = Field(None, description="The suite's newest run")


class SuitePage(BaseModel):
    items: list[SuiteOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="How many suites match in all: on the first page (no cursor) only")


class SuiteRunIn(Strict):
    target: dict[str, Any] | None = Field(None, description="Evaluate this target instead of the suite's")
    model_version_id: uuid.UUID | None = Field(
        None, description="The model version the target serves: the run then counts for that version's gate"
    )


class SuiteResult(BaseModel):
    """One run of a suite: what it evaluated, its metric means and the threshold verdict."""

    run_id: uuid.UUID
    suite_id: uuid.UUID
    status: str
    progress: dict[str, Any]
    error: str | None
    target: dict[str, Any] | None
    model_version_id: uuid.UUID | None
    model_version: int | None = Field(None, description="The version's number")
    scores: dict[str, float | None] = Field(description="The run's mean per metric (the suite's target)")
    verdict: list[VerdictItem] | None = Field(None, description="Each threshold against the run's mean, once finished")
    passed: bool | None = Field(None, description="Every threshold held (None: not finished, or cancelled)")
    cost: float
    created_at: datetime
    finished_at: datetime | None


class SuiteResultPage(BaseModel):
    items: list[SuiteResult]
    next_cursor: str | None = None
    total: int | None = None


class GateSuite(BaseModel):
    suite_id: uuid.UUID
    suite_name: str
    status: Literal["passed", "failed", "missing"]
    run_id: uuid.UUID | None = None
    run_status: str | None = None
    finished_at: datetime | None = None
    failed: list[VerdictItem] = Field(default_factory=list, description="The thresholds the latest result missed")
    verdict: list[VerdictItem] | None = None
    running: bool = Field(False, description="A run of the suite for this version is queued or running")


class GateOut(BaseModel):
    model_id: uuid.UUID
    version_id: uuid.UUID
    version: int
    stage: str
    passed: bool = Field(description="Every suite attached to the model passed on this version (True when none)")
    suites: list[GateSuite]
