from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

DeploymentName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[a-z0-9]([a-z0-9.\-]*[a-z0-9])?$"),
]
MIG_PROFILE = r"^[1-7]g\.[0-9]+gb$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Toleration(Strict):
    key: str = Field(max_length=253)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = Field(None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Resources(Strict):
    cpu: float = Field(1.0, gt=0, le=256, description="CPU cores per replica")
    memory_gb: float = Field(4.0, gt=0, le=4096, description="Memory per replica (GiB); the model must fit")
    gpu: int = Field(0, ge=0, le=16, description="Whole GPUs per replica (nvidia.com/gpu)")
    gpu_type: str | None = Field(
        None, max_length=100, description="Node label value of nvidia.com/gpu.product, e.g. NVIDIA-A100-SXM4-80GB"
    )
    mig_profile: Annotated[str, StringConstraints(pattern=MIG_PROFILE)] | None = Field(
        None, description="A MIG slice instead of whole GPUs, e.g. 1g.10gb (nvidia.com/mig-1g.10gb)"
    )
    node_selector: dict[str, str] = Field(default_factory=dict, max_length=20)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one_kind_of_gpu(self):
        if self.mig_profile and self.gpu:
            raise ValueError("give either whole GPUs (gpu) or a MIG slice (mig_profile), not both")
        return self


class RollbackPolicy(Strict):
    max_error_rate: float = Field(0.2, gt=0, le=1, description="Share of 5xx answers that rolls the canary back")
    max_p95_ms: float | None = Field(None, gt=0, description="p95 latency (ms) that rolls the canary back")
    window_s: int = Field(60, ge=10, le=3600)
    min_requests: int = Field(10, ge=1, le=100000, description="Judge only once the window holds this many requests")


class Pricing(Strict):
    gpu_hour_price: float = Field(gt=0, description="Price of one GPU-hour (of one replica-hour for CPU replicas)")
    throughput_tokens_per_s: float = Field(gt=0, le=10_000_000, description="Tokens per second one replica sustains")


class DeployRequest(Strict):
    version_id: uuid.UUID | None = Field(None, description="A model version; or give model + ref")
    model: str | None = Field(None, max_length=200, description="A registered model's name")
    ref: str = Field("latest", max_length=100, description="Version number, alias (production) or latest")
    name: DeploymentName | None = Field(None, description="The model name at /v1 (default: the model's name)")
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    executor: Literal["local", "kubernetes"] = "local"
    replicas_min: int = Field(1, ge=1, le=100)
    replicas_max: int = Field(1, ge=1, le=100)
    autoscale_target: float = Field(4.0, gt=0, le=1000, description="Queued + running requests per replica to aim for")
    max_batch: int = Field(16, ge=1, le=256, description="Sequences generated together (1: no batching)")
    resources: Resources = Field(default_factory=Resources)
    canary_of: uuid.UUID | None = Field(None, description="Deploy as a canary of this deployment")
    canary_weight: int = Field(10, ge=1, le=99, description="Percent of the traffic the canary gets")
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    pricing: Pricing | None = Field(
        None, description="Cost of requests from GPU time (see the gateway's prices); none: free"
    )

    @model_validator(mode="after")
    def _checks(self):
        if (self.version_id is None) == (self.model is None):
            raise ValueError("give either version_id, or model (with ref)")
        if self.replicas_max < self.replicas_min:
            raise ValueError("replicas_max must be at least replicas_min")
        return self


class ScaleRequest(Strict):
    replicas_min: int = Field(ge=1, le=100)
    replicas_max: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _order(self):
        if self.replicas_max < self.replicas_min:
            raise ValueError("replicas_max must be at least replicas_min")
        return self


class CanaryWeight(Strict):
    weight: int = Field(ge=1, le=99)


class ReplicaOut(BaseModel):
    index: int
    state: str
    endpoint: str | None = None
    pid: int | None = None
    restarts: int = 0
    queued: int = 0
    running: int = 0
    last_exit: str | None = None


class TrafficOut(BaseModel):
    minutes: int
    requests: int
    errors: int
    p95_ms: float | None


class DeploymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    team_id: uuid.UUID
    model_id: uuid.UUID
    model_name: str
    version_id: uuid.UUID
    version: int
    engine: str
    executor: str
    replicas_min: int
    replicas_max: int
    replicas_desired: int
    resources: dict[str, Any]
    autoscale_target: float
    max_batch: int
    canary_of: uuid.UUID | None
    canary_weight: int
    rollback_policy: dict[str, Any]
    pricing: dict[str, Any]
    status: str
    status_reason: str | None
    replicas: list[ReplicaOut]
    events: list[dict[str, Any]]
    endpoint: str = Field(description="Call it through the gateway: POST /v1/chat/completions with model = name")
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    ready_seconds: float | None
    stopped_at: datetime | None
    traffic: TrafficOut | None = Field(
        None, description="The last hour through the gateway (the list only; null elsewhere)"
    )


class MinutePoint(BaseModel):
    minute: datetime
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    completion_tokens: int


class DeploymentMetrics(BaseModel):
    name: str
    minutes: int
    series: list[MinutePoint]


class LogLines(BaseModel):
    replica: int
    lines: list[str]
