"""Request and response models of evaluation sets and runs (`/api/eval/...`). Suites: suite_schemas.py;
reviews: review_schemas.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops.registry.schemas import ModelName

TargetKey = Literal["A", "B", "C", "D"]
TargetKind = Literal["route", "deployment", "prompt", "column"]
Tokenizer = Literal["auto", "morpheme", "word", "character"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "stopped"]
Column = Annotated[str, Field(min_length=1, max_length=300)]
RouteName = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- sets ----------------------------------------------------------------------------------------


class EvalMapping(Strict):
    input: Column = Field(description="The column holding the input")
    input_format: Literal["text", "messages"] = Field(
        "text", description="text: the column is the user message; messages: a JSON list of chat messages"
    )
    references: list[Column] = Field(default_factory=list, max_length=10, description="Reference answer columns")
    context: Column | None = Field(None, description="A column of context (retrieved passages...)")
    metadata: list[Column] = Field(default_factory=list, max_length=50, description="Columns kept with each row")


class EvalSetCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=5000)
    dataset_version_id: uuid.UUID
    mapping: EvalMapping
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: yours)")


class EvalSetOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str | None = None
    name: str
    description: str
    dataset_id: uuid.UUID
    dataset_name: str
    dataset_version_id: uuid.UUID
    dataset_version: int
    review_status: str
    sensitivity: str
    row_count: int | None
    columns: list[dict[str, Any]]
    mapping: EvalMapping
    rows_readable: bool = Field(description="Whether the caller may read the set's rows (the data access policy)")
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class EvalSetPage(BaseModel):
    items: list[EvalSetOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="How many match in all: on the first page (no cursor) only")


# --- runs ----------------------------------------------------------------------------------------


class TargetParams(Strict):
    temperature: float | None = Field(0.0, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=100_000)
    seed: int | None = None


class EvalTarget(Strict):
    key: TargetKey
    kind: TargetKind = "route"
    route: RouteName | None = Field(None, description="route: the gateway route; prompt: the route to render it on")
    deployment_id: uuid.UUID | None = None
    prompt: str | None = Field(None, max_length=300, description="A prompt reference: name@label or name:version")
    column: Column | None = Field(None, description="column: the set's column holding pre-computed outputs")
    params: TargetParams = Field(default_factory=TargetParams)
    label: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> EvalTarget:
        need = {"route": "route", "deployment": "deployment_id", "prompt": "prompt", "column": "column"}[self.kind]
        if getattr(self, need) in (None, ""):
            raise ValueError(f"a {self.kind} target needs '{need}'")
        return self


class EvalRunCreate(Strict):
    eval_set_id: uuid.UUID
    name: str = Field("", max_length=200)
    targets: list[EvalTarget] = Field(min_length=1, max_length=4)
    metrics: list[dict[str, Any] | str] = Field(
        default_factory=list,
        max_length=50,
        description='[{"name": "bleu"}, {"name": "regex", "params": {...}}] or bare names',
    )
    judges: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    tokenizer: Tokenizer = "auto"
    sample_size: int | None = Field(None, ge=1, le=1_000_000, description="A seeded random sample of N rows; none: all")
    seed: int = Field(0, ge=0, le=2**62)
    concurrency: int = Field(8, ge=1, le=64)
    max_cost: float | None = Field(None, ge=0, description="Stop (status 'stopped') once the cost passes this")
    model_version_id: uuid.UUID | None = Field(None, description="Write the primary target's means to this version")

    @model_validator(mode="after")
    def _distinct_keys(self) -> EvalRunCreate:
        keys = [t.key for t in self.targets]
        if len(set(keys)) != len(keys):
            raise ValueError("target keys must be distinct")
        if not self.metrics and not self.judges:
            raise ValueError("choose at least one metric or judge")
        return self


class TargetEstimate(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class EvalEstimate(BaseModel):
    rows: int
    calls: int
    judge_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    currency: str = "USD"
    per_target: dict[str, TargetEstimate]


class EvalProgress(BaseModel):
    done: int = 0
    total: int = 0
    errors: int = 0


class EvalRunOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    eval_set_id: uuid.UUID
    eval_set_name: str | None = None
    suite_id: uuid.UUID | None
    model_version_id: uuid.UUID | None
    targets: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    judges: list[dict[str, Any]]
    tokenizer: str
    sample_size: int | None
    seed: int
    concurrency: int
    max_cost: float | None
    status: RunStatus
    progress: EvalProgress
    estimate: dict[str, Any] | None
    cost: float
    currency: str
    summary: dict[str, Any] | None = Field(None, description="Metric → target key → mean (the report's means)")
    verdict: dict[str, Any] | None
    passed: bool | None
    experiment_run_id: uuid.UUID | None
    error: str | None
    cancel_requested: bool
    created_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EvalRunPage(BaseModel):
    items: list[EvalRunOut]
    next_cursor: str | None = None
    total: int | None = None


class EvalResultOut(BaseModel):
    output: str | None
    error: str | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float
    scores: dict[str, float | None]
    judges: dict[str, dict[str, Any]]


class EvalRowOut(BaseModel):
    row_index: int
    input: str
    references: list[str]
    context: str | None
    metadata: dict[str, Any]
    results: dict[str, EvalResultOut]
    pairwise: dict[str, dict[str, Any]]


class EvalRowPage(BaseModel):
    items: list[EvalRowOut]
    next_cursor: str | None = None
    total: int | None = None


class EvalReport(BaseModel):
    """The comparison report (evaluation/reports.py): means with bootstrap 95% CIs, win rates, usage."""

    model_config = ConfigDict(extra="allow")
    targets: list[dict[str, Any]]
    metrics: dict[str, Any]
    comparisons: list[dict[str, Any]]
    usage: dict[str, Any]
    currency: str = "USD"


class MetricInfo(BaseModel):
    name: str
    kind: str
    higher_is_better: bool
    params: dict[str, Any]
    summary_en: str
    summary_ko: str


class RubricInfo(BaseModel):
    name: str
    title_en: str = ""
    title_ko: str = ""
    language: str = "en"
    needs_reference: bool = False
    criteria: str = ""


class EvalCatalogue(BaseModel):
    metrics: list[MetricInfo]
    rubrics: list[RubricInfo]
    tokenizers: list[str]
