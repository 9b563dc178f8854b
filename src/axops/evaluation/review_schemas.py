"""Request and response models of human review queues (`/api/eval/reviews/...`).

What annotators receive (ItemOut) carries the outputs as "1"/"2" only: the target behind each is
never part of any annotator-facing model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops.evaluation.review_models import COMMENT_MAX
from axops.registry.schemas import ModelName

Mode = Literal["likert", "pairwise"]
Source = Literal["run", "traffic"]
Choice = Literal["1", "2", "tie"]
CriterionName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\p{L}\p{N}][\p{L}\p{M}\p{N}_ -]*$")]
TargetKey = Literal["A", "B", "C", "D"]
MAX_ITEMS = 2000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Criterion(Strict):
    name: CriterionName
    description: str = Field("", max_length=2000)
    scale: int = Field(5, ge=2, le=10, description="Likert points 1..scale (pairwise queues ignore it)")


class RunSample(Strict):
    run_id: uuid.UUID
    rows: Literal["all", "sample", "disagree"] = Field(
        "all",
        description="all rows; a seeded random sample of `size`; or rows where the chosen targets' outputs differ",
    )
    size: int | None = Field(None, ge=1, le=MAX_ITEMS, description="How many rows (sample; caps the others)")
    seed: int = 0
    targets: list[TargetKey] = Field(
        default_factory=list,
        max_length=4,
        description="likert: the targets whose outputs are graded, one item per row and target (default: all); "
        "pairwise: exactly two (default: the run's first two)",
    )


class TrafficSample(Strict):
    model: str | None = Field(None, max_length=200, description="Only requests to this route")
    since: datetime | None = None
    until: datetime | None = None
    size: int = Field(50, ge=1, le=MAX_ITEMS)
    seed: int = 0


class QueueCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=5000)
    mode: Mode = "likert"
    criteria: list[Criterion] = Field(min_length=1, max_length=10)
    assignees: list[uuid.UUID] = Field(default_factory=list, max_length=200, description="Empty: any team member")
    run: RunSample | None = Field(None, description="Items from a finished evaluation run's rows")
    traffic: TrafficSample | None = Field(
        None, description="Items from production gateway requests with logged (PII-masked) text you may see"
    )
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: the run's, else yours)")

    @model_validator(mode="after")
    def _one_source(self) -> QueueCreate:
        if (self.run is None) == (self.traffic is None):
            raise ValueError("give exactly one source: `run` or `traffic`")
        names = [c.name.casefold() for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValueError("criterion names must be unique")
        return self


class Progress(BaseModel):
    total: int
    labelled: int = Field(description="Items labelled by at least one annotator")
    mine: int = Field(description="Items labelled by the caller")


class Annotator(BaseModel):
    user_id: uuid.UUID
    username: str | None
    labelled: int
    last_labelled_at: datetime | None


class QueueOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str
    source: Source
    run_id: uuid.UUID | None
    run_name: str | None = None
    mode: Mode
    criteria: list[Criterion]
    assignees: list[uuid.UUID]
    assignee_names: list[str] = Field(default_factory=list)
    may_annotate: bool = Field(description="The caller may label this queue's items")
    status: Literal["open", "closed"]
    origin: dict[str, Any]
    created_by: uuid.UUID | None
    created_by_name: str | None = None
    created_at: datetime
    closed_at: datetime | None
    progress: Progress
    annotators: list[Annotator] = Field(default_factory=list, description="Per annotator (the queue's page)")


class QueueList(BaseModel):
    items: list[QueueOut]
    next_cursor: str | None = None
    total: int | None = None


class Reviewer(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str


class ReviewerList(BaseModel):
    items: list[Reviewer]


class LabelIn(Strict):
    scores: dict[str, int] = Field(default_factory=dict, description="likert: {criterion: 1..scale}, every criterion")
    choices: dict[str, Choice] = Field(default_factory=dict, description='pairwise: {criterion: "1"|"2"|"tie"}')
    comment: str = Field("", max_length=COMMENT_MAX)


class LabelOut(BaseModel):
    scores: dict[str, int]
    choices: dict[str, Choice]
    comment: str
    created_at: datetime
    updated_at: datetime


class ItemOut(BaseModel):
    """One item as an annotator sees it: outputs as "1"/"2", never which target they came from."""

    id: uuid.UUID
    position: int = Field(description="0-based place in the queue")
    input: str
    reference: list[str]
    context: str | None
    outputs: dict[str, str | None] = Field(description='"1" (and "2" for pairwise) → the text shown')
    label: LabelOut | None = Field(None, description="The caller's label, if any")


class NextOut(BaseModel):
    item: ItemOut | None = Field(description="null: every item has the caller's label")
    progress: Progress


class ItemList(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = None
    total: int | None = None


class PairAgreement(BaseModel):
    a: str | None = Field(description="Annotator (username) or 'judge'")
    b: str | None
    n: int = Field(description="Items both labelled")
    percent_agreement: float | None
    kappa: float | None = Field(description="Quadratic-weighted for Likert, plain for pairwise; null when undefined")


class CriterionAgreement(BaseModel):
    criterion: str
    weights: Literal["quadratic", "none"]
    annotators: list[PairAgreement] = Field(description="Every pair of annotators")
    judge: PairAgreement | None = Field(
        None, description="Humans against the run's LLM judge of the same name (every human label paired with it)"
    )
    judge_note: str | None = Field(None, description="Why no judge comparison: no_judge, scale_differs")


class AgreementOut(BaseModel):
    criteria: list[CriterionAgreement]
