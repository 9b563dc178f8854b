from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from axops.core.text import no_control
from axops.experiments.schemas import KEY_RULE, valid_key
from axops.registry.schemas import ModelName


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A job's or sweep's display name: trimmed, not blank, one line (it lands in run names, API key names and logs).
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(no_control)
]


def _metric_key(key: str) -> str:
    if not valid_key(key):
        raise ValueError(f"a metric key is {KEY_RULE}")
    return key


class ColumnMapping(Strict):
    """Which dataset columns feed training: `text`, or `prompt` (+ `response`), or chat `messages` (JSON)."""

    text: str | None = Field(None, max_length=200)
    prompt: str | None = Field(None, max_length=200)
    response: str | None = Field(None, max_length=200)
    messages: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one_form(self):
        forms = [bool(self.text), bool(self.prompt), bool(self.messages)]
        if sum(forms) != 1 or (self.response and not self.prompt):
            raise ValueError("map exactly one of: text; prompt (with an optional response); messages")
        return self

    def columns(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class Lora(Strict):
    r: int = Field(8, ge=1, le=512)
    alpha: int = Field(16, ge=1, le=4096)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = Field(
        None, max_length=32, description="Module names; default: the model's attention projections"
    )


class Hyperparameters(Strict):
    epochs: float | None = Field(1.0, gt=0, le=1000)
    max_steps: int | None = Field(None, gt=0, le=10_000_000, description="Overrides epochs when given")
    learning_rate: float = Field(2e-4, gt=0, le=1)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_steps: int = Field(0, ge=0, le=1_000_000)
    batch_size: int = Field(8, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(1, ge=1, le=1024)
    max_seq_length: int = Field(512, ge=8, le=131_072)
    seed: int = Field(42, ge=0, le=2**31 - 1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    save_steps: int = Field(50, ge=1, le=1_000_000, description="Checkpoint every this many steps (and at the end)")
    logging_steps: int = Field(1, ge=1, le=10_000)


class Resources(Strict):
    gpus: int = Field(0, ge=0, le=64, description="GPUs per node")
    gpu_type: str | None = Field(None, max_length=100)
    processes: int = Field(1, ge=1, le=64, description="Training processes per node (CPU DDP); with GPUs, one per GPU")
    nodes: int = Field(1, ge=1, le=64)
    cpu: float = Field(2, gt=0, le=512)
    memory_gb: float = Field(8, gt=0, le=4096)


class JobCreate(Strict):
    name: Title | None = Field(None, description="Default: '<output model> from v<base version>'")
    base_version_id: uuid.UUID | None = Field(None, description="The base model version; or give base_model + base_ref")
    base_model: str | None = Field(None, max_length=200)
    base_ref: str = Field("latest", max_length=100)
    dataset_version_ids: list[uuid.UUID] = Field(min_length=1, max_length=20, description="Approved dataset versions")
    column_mapping: ColumnMapping
    method: Literal["full", "lora", "qlora"] = "lora"
    lora: Lora = Field(default_factory=Lora)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    resources: Resources = Field(default_factory=Resources)
    distributed: Literal["none", "ddp", "fsdp", "deepspeed"] = "none"
    executor: Literal["local", "kubernetes", "ray"] = "local"
    priority: int = Field(0, ge=-100, le=100, description="Higher runs first")
    max_retries: int = Field(1, ge=0, le=10)
    resume: bool = Field(True, description="Retries start from the latest checkpoint")
    output_model: ModelName | None = Field(
        None, description="Model to register the result in (default: <base>-ft); named as models are"
    )
    experiment: str = Field("fine-tuning", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _base(self):
        if (self.base_version_id is None) == (self.base_model is None):
            raise ValueError("give either base_version_id, or base_model (with base_ref)")
        return self


class Metric(Strict):
    key: str = Field(min_length=1, max_length=250)
    value: float
    step: int = Field(ge=0)
    timestamp: int = Field(ge=0)


class Report(Strict):
    """What a running job tells the control plane."""

    progress: dict[str, Any] | None = None
    metrics: list[Metric] = Field(default_factory=list, max_length=1000)
    checkpoint: dict[str, Any] | None = None
    failure: dict[str, str] | None = None


class Quota(Strict):
    gpus: int = Field(ge=0, le=100_000)


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    team_id: uuid.UUID
    status: str
    status_reason: str | None
    failure_kind: str | None
    priority: int
    base_version_id: uuid.UUID
    dataset_version_ids: list[uuid.UUID]
    column_mapping: dict[str, Any]
    method: str
    lora: dict[str, Any]
    hyperparameters: dict[str, Any]
    resources: dict[str, Any]
    distributed: str
    executor: str
    max_retries: int
    resume: bool
    attempts: int
    output_model_id: uuid.UUID | None
    output_version_id: uuid.UUID | None
    run_id: uuid.UUID | None
    sweep_id: uuid.UUID | None
    trial_params: dict[str, Any]
    progress: dict[str, Any]
    checkpoints: list[dict[str, Any]]
    placement: dict[str, Any]
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class ExecutorOut(BaseModel):
    name: str
    description: str


class LogPage(BaseModel):
    lines: list[dict[str, Any]]
    next_after: int


SWEEPABLE = {
    "hyperparameters.learning_rate",
    "hyperparameters.batch_size",
    "hyperparameters.max_steps",
    "hyperparameters.epochs",
    "hyperparameters.warmup_steps",
    "hyperparameters.gradient_accumulation_steps",
    "hyperparameters.lr_scheduler",
    "hyperparameters.seed",
    "lora.r",
    "lora.alpha",
    "lora.dropout",
}


class Range(Strict):
    """Values to try: a list, or (random search) a range sampled uniformly or on a log scale."""

    values: list[float | int | str] | None = Field(None, min_length=1, max_length=100)
    min: float | None = None
    max: float | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _shape(self):
        if (self.values is None) == (self.min is None or self.max is None):
            raise ValueError("give either values, or min and max")
        if self.min is not None and self.max is not None and (self.min > self.max or (self.log and self.min <= 0)):
            raise ValueError("min must be at most max (and above 0 on a log scale)")
        return self


class SweepCreate(Strict):
    name: Title
    job: JobCreate = Field(description="The trial template: every trial is this job with the swept values set")
    space: dict[str, Range] = Field(
        min_length=1, max_length=10, description=f"Swept settings: {', '.join(sorted(SWEEPABLE))}"
    )
    strategy: Literal["grid", "random"] = "grid"
    max_trials: int = Field(8, ge=1, le=100)
    metric: Annotated[str, AfterValidator(_metric_key)] = Field(
        "loss", min_length=1, max_length=250, description="A metric of the trials' runs (last value)"
    )
    mode: Literal["min", "max"] = "min"
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _space(self):
        if unknown := sorted(set(self.space) - SWEEPABLE):
            raise ValueError(f"cannot sweep {', '.join(unknown)}; sweepable: {', '.join(sorted(SWEEPABLE))}")
        if self.strategy == "grid" and any(r.values is None for r in self.space.values()):
            raise ValueError("a grid search needs a list of values for every setting (ranges are for random search)")
        return self


class TrialOut(BaseModel):
    job_id: uuid.UUID
    run_id: uuid.UUID | None
    status: str
    params: dict[str, Any]
    value: float | None


class SweepOut(BaseModel):
    id: uuid.UUID
    name: str
    strategy: str
    metric: str
    mode: str
    space: dict[str, Any]
    status: str
    trials: list[TrialOut]
    best_job_id: uuid.UUID | None
    best_value: float | None
    created_at: datetime


class SweepSummary(BaseModel):
    """A sweep in the list: its trials counted by status, and the best so far."""

    id: uuid.UUID
    name: str
    strategy: str
    metric: str
    mode: str
    status: str
    trials: int
    trial_counts: dict[str, int] = Field(description="Trials by job status")
    best_job_id: uuid.UUID | None
    best_value: float | None
    created_at: datetime


class QuotaOut(BaseModel):
    team_id: uuid.UUID
    team_name: str
    gpus: int | None = Field(description="The team's GPU quota; null: no limit")
    gpus_in_use: int = Field(description="GPUs the team's jobs hold now (running, or handed to a cluster)")
    running: int
    queued: int


def _unless_none(value: Any) -> bool:
    return value is None


class Gpu(BaseModel):
    """One GPU of this machine, as NVML reports it."""

    index: int
    name: str
    uuid: str
    utilization_percent: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_c: int | None = None


class ClusterNode(BaseModel):
    """A cluster node with GPUs: whole GPUs and MIG slices allocatable."""

    node: str
    gpu_product: str | None
    gpus: int
    mig: dict[str, int]
    ready: bool
    schedulable: bool


class ClusterGpus(BaseModel):
    executor: str
    nodes: list[ClusterNode]
    error: str | None = Field(None, exclude_if=_unless_none, description="Why the cluster's inventory is missing")


class GpuInventory(BaseModel):
    gpus: list[Gpu]
    count: int
    message: str | None = Field(description="Why the list is empty (no GPU, or no driver)")
    cluster: ClusterGpus | None = Field(
        None, exclude_if=_unless_none, description="The first cluster executor's GPU nodes (Kubernetes before Ray)"
    )


class JobSpec(BaseModel):
    """What the training runtime runs: the job as it reads it with the job's key."""

    job_id: uuid.UUID
    base_version_id: uuid.UUID
    dataset_version_ids: list[uuid.UUID]
    column_mapping: dict[str, str]
    method: str
    lora: dict[str, Any]
    hyperparameters: dict[str, Any]
    resume: bool = Field(description="Resume from the latest checkpoint (a retried job that saved one)")
    output_model_name: str
    distributed: str


class CheckpointOut(BaseModel):
    step: int
    key: str
    size: int
    sha256: str
    at: str = Field(description="When it was stored (ISO 8601)")
    attempt: int


class OutputVersion(BaseModel):
    """The model version a job registered."""

    id: uuid.UUID
    version: int
    model_id: uuid.UUID
