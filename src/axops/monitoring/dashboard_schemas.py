"""What the system, training and data dashboards answer (dashboards*.py compute them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class RangeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from")
    to: datetime
    clipped: bool  # the asked range was longer than 400 days: its last 400 days are shown


# -- system ---------------------------------------------------------------------------------------


class GpusNow(BaseModel):
    gpus: int  # GPUs that reported in the last 5 minutes
    gpu_utilization: float | None  # their mean utilisation now, percent
    gpu_memory_used_bytes: float
    gpu_memory_total_bytes: float
    nodes_up: int
    nodes_known: int


class DeploymentsNow(BaseModel):
    active: int  # not stopped
    by_status: dict[str, int]
    replicas_ready: int
    replicas_desired: int


class RequestTotals(BaseModel):
    requests: int
    errors: int  # status >= 400
    server_errors: int  # status >= 500
    error_rate: float | None
    p95_ms: float | None
    exact: bool  # counted from the usage records (ranges up to a day); else from the per-minute series


class RouteTotals(BaseModel):
    route: str
    requests: int
    errors: int
    p95_ms: float | None


class SystemDashboard(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    range: RangeOut
    gpus: GpusNow
    deployments: DeploymentsNow
    requests: RequestTotals
    routes: list[RouteTotals]  # the 10 busiest routes of the range
    firing_alerts: int  # of the caller's teams (Admin: all)


# -- training -------------------------------------------------------------------------------------


class OutcomeDay(BaseModel):
    day: date
    succeeded: int
    failed: int
    cancelled: int


class Outcomes(BaseModel):
    succeeded: int
    failed: int
    cancelled: int
    success_rate: float | None  # succeeded / (succeeded + failed)
    days: list[OutcomeDay]


class TeamGpuHours(BaseModel):
    team_id: uuid.UUID
    team: str | None
    gpu_hours: float
    jobs: int


class JobGpuHours(BaseModel):
    id: uuid.UUID
    name: str
    team: str | None
    status: str
    gpus: float
    gpu_hours: float


class GpuHours(BaseModel):
    total: float
    teams: list[TeamGpuHours]
    top_jobs: list[JobGpuHours]


class Waits(BaseModel):
    jobs: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None


class WaitDay(Waits):
    day: date


class QueuedJob(BaseModel):
    id: uuid.UUID
    name: str
    team: str | None
    priority: int
    queued_at: datetime
    status_reason: str | None
    wait_s: float


class Queue(BaseModel):
    overall: Waits
    days: list[WaitDay]
    queued_total: int
    queued: list[QueuedJob]  # the 20 longest waiting


class TrainingDashboard(BaseModel):
    range: RangeOut
    outcomes: Outcomes
    gpu_hours: GpuHours
    queue: Queue


# -- data -----------------------------------------------------------------------------------------


class DatasetQuality(BaseModel):
    dataset_id: uuid.UUID
    name: str
    version_id: uuid.UUID
    version: int
    rows: int | None
    bytes: int
    duplicate_ratio: float | None
    max_null_ratio: float | None
    warnings: int
    review_status: str
    sensitivity: str | None


class Quality(BaseModel):
    datasets: int
    scanned: int
    mean_duplicate_ratio: float | None
    with_warnings: int
    warning_kinds: dict[str, int]
    reviews: dict[str, int]
    rows: list[DatasetQuality]  # the 50 with the most warnings


class PiiDay(BaseModel):
    day: date
    entities: dict[str, int]


class PiiFindings(BaseModel):
    scanned_versions: int
    versions_with_findings: int
    entities: dict[str, int]
    days: list[PiiDay]


class Totals(BaseModel):
    versions: int
    rows: int
    bytes: int


class GrowthDay(Totals):
    day: date
    total_versions: int
    total_rows: int
    total_bytes: int


class Growth(BaseModel):
    before: Totals
    days: list[GrowthDay]


class LineageLink(BaseModel):
    job_id: uuid.UUID
    job: str
    status: str
    dataset_id: uuid.UUID
    dataset: str
    dataset_version: int
    model_id: uuid.UUID | None
    model: str | None
    model_version: int | None


class Lineage(BaseModel):
    links: list[LineageLink]
    truncated: bool


class DataDashboard(BaseModel):
    range: RangeOut
    quality: Quality
    pii: PiiFindings
    growth: Growth
    lineage: Lineage
