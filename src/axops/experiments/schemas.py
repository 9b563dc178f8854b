from __future__ import annotations

import posixpath
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_KEY = 250
KEY_RULE = (
    f"1 to {MAX_KEY} characters: letters, digits, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) "
    "and slashes (/), not resolving to another path ('a//b', 'a/./b', '/a', 'a/', '..')"
)
_KEY = re.compile(r"[/\w.\- :]*")


def valid_key(key: Any) -> bool:
    """A metric, param or tag key by MLflow's rules (names may become file paths); keeps markup out of keys as well."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not _KEY.fullmatch(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith(("..", "/"))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentCreate(Strict):
    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(None, max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: your first team)")


class ExperimentUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=250)
    description: str | None = Field(None, max_length=10_000)
    tags: dict[str, str] | None = Field(None, max_length=100)


class ExperimentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    tags: dict[str, str]
    team_id: uuid.UUID
    team_name: str | None
    lifecycle: str
    run_count: int
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LatestMetric(BaseModel):
    value: float | str  # NaN and ±Infinity as strings
    step: int
    timestamp: int


class RunCreate(Strict):
    experiment_id: uuid.UUID | None = None
    experiment_name: str | None = Field(None, min_length=1, max_length=250, description="Created if missing")
    team_id: uuid.UUID | None = None
    name: str | None = Field(None, max_length=250)
    params: dict[str, str] = Field(default_factory=dict, max_length=1000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=1000)
    job_id: uuid.UUID | None = None
    dataset_version_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    base_model_version_id: uuid.UUID | None = None


class RunOut(BaseModel):
    id: uuid.UUID
    experiment_id: uuid.UUID
    experiment_name: str
    team_id: uuid.UUID
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, LatestMetric]
    job_id: uuid.UUID | None
    model_version_id: uuid.UUID | None
    base_model_version_id: uuid.UUID | None
    dataset_version_ids: list[uuid.UUID]
    created_by: uuid.UUID | None
    user_name: str | None
    lifecycle: str
    created_at: datetime
    updated_at: datetime


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="How many runs match in all: on the first page (no cursor) only")


class RunKeys(BaseModel):
    """The param, metric and tag keys of the runs in some experiments (the runs table's column choices)."""

    params: list[str]
    metrics: list[str]
    tags: list[str]


class MetricPoint(Strict):
    key: str = Field(min_length=1, max_length=250)
    value: float | Literal["NaN", "Infinity", "-Infinity"]
    step: int = 0
    timestamp: int | None = Field(None, description="Milliseconds since the epoch (default: now)")


class LogBatchRequest(Strict):
    metrics: list[MetricPoint] = Field(default_factory=list, max_length=10_000)
    params: dict[str, str] = Field(default_factory=dict, max_length=100)
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)


class LogBatchOut(BaseModel):
    run_id: uuid.UUID
    metrics: int


class RunUpdate(Strict):
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"] | None = None
    end_time: datetime | None = None
    name: str | None = Field(None, min_length=1, max_length=250)


class SearchRequest(Strict):
    experiment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    filter: str = Field(
        "", max_length=4000, description="e.g. params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'"
    )
    order_by: list[str] = Field(default_factory=list, max_length=10, description="e.g. metrics.loss ASC")
    limit: int = Field(100, ge=1, le=5000)
    cursor: str | None = None
    lifecycle: Literal["active", "deleted", "all"] = "active"


class MetricHistory(BaseModel):
    run_id: uuid.UUID
    key: str
    count: int
    steps: list[int]
    timestamps: list[int]
    values: list[float | str]


class Series(BaseModel):
    steps: list[int]
    values: list[float | str]


class RunCompareRequest(Strict):
    run_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    metric_keys: list[str] = Field(default_factory=list, max_length=50)
    max_points: int = Field(2000, ge=10, le=100_000)


class RunCompareOut(BaseModel):
    runs: list[RunOut]
    param_keys: list[str]
    differing_params: list[str]
    metric_keys: list[str]
    series: dict[str, dict[str, Series]]  # metric key → run id → series


class ExportRequest(SearchRequest):
    format: Literal["csv", "json"] = "csv"
    limit: int = Field(5000, ge=1, le=50_000)


class ArtifactOut(BaseModel):
    path: str
    is_dir: bool
    file_size: int | None = None
