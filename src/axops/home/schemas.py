"""The home dashboard's one answer. A tile the caller may not use is null (the UI hides it), an
empty list means "none right now"."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class HomeDeployment(BaseModel):
    id: uuid.UUID
    name: str
    model_name: str
    version: int
    status: str = Field(description="pending, loading, ready, degraded or failed")
    status_reason: str | None
    replicas_ready: int
    replicas_desired: int
    canary_of: uuid.UUID | None


class UsageFigures(BaseModel):
    requests: int
    errors: int = Field(description="Answers with status 400 or more")
    cost: float = Field(description="In the price table's currency (prices are per 1M tokens)")
    p95_ms: float | None = Field(description="95th percentile latency; null without requests")


class UsageHour(UsageFigures):
    ts: datetime = Field(description="Start of the hour (UTC)")


class HomeUsage(BaseModel):
    since: datetime
    until: datetime
    scope: Literal["all", "own"] = Field(description="all: every caller's usage (gateway admins); own: the caller's")
    currency: str = Field(description="The unit of cost (AXOPS_GATEWAY_CURRENCY)")
    totals: UsageFigures
    series: list[UsageHour] = Field(description="One entry per hour, oldest first, zero-filled")


class HomeUpstream(BaseModel):
    upstream: str = Field(description="provider/model")
    provider: str
    model: str
    circuit: Literal["closed", "open", "half_open"]
    failures: int = Field(description="Consecutive failed calls or health probes")
    routes: list[str] = Field(description="Public model names (of those the caller may use) that send to it")


class HomeJob(BaseModel):
    id: uuid.UUID
    name: str
    status: Literal["queued", "running"]
    status_reason: str | None
    priority: int
    step: int | None
    max_steps: int | None
    queued_at: datetime
    started_at: datetime | None


class HomeTraining(BaseModel):
    queued: int
    running: int
    jobs: list[HomeJob] = Field(description="Running jobs first, then the queue in the order it starts them")


class HomeRun(BaseModel):
    id: uuid.UUID
    name: str
    experiment_id: uuid.UUID
    experiment_name: str
    status: str = Field(description="RUNNING, SCHEDULED, FINISHED, FAILED or KILLED")
    start_time: datetime
    end_time: datetime | None


class HomeReview(BaseModel):
    dataset_id: uuid.UUID
    dataset_name: str
    version_id: uuid.UUID
    version: int
    sensitivity: str | None
    row_count: int | None
    created_at: datetime


class HomeReviews(BaseModel):
    total: int = Field(description="Scanned versions waiting for review, of the datasets the caller sees")
    items: list[HomeReview]


class HomeAuditEvent(BaseModel):
    id: uuid.UUID
    created_at: datetime
    actor_name: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: str


class HomeOut(BaseModel):
    generated_at: datetime
    deployments: list[HomeDeployment] | None = Field(description="Live deployments; null without deployments:read")
    usage: HomeUsage | None = Field(description="Null without gateway:invoke or gateway:admin")
    upstreams: list[HomeUpstream] | None = Field(description="Failing upstreams; null without gateway access")
    training: HomeTraining | None = Field(description="Null without training:read")
    runs: list[HomeRun] | None = Field(description="Latest experiment runs; null without training:read")
    reviews: HomeReviews | None = Field(description="Null without datasets:read")
    audit: list[HomeAuditEvent] | None = Field(description="Latest audit events; null without audit:read")
