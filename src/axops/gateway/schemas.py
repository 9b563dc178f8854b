from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from axops.gateway.tokens import ENCODINGS, REGISTRY_REF

ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[\w.:/@\-]+$")
]
Strategy = Literal["weighted", "round_robin", "least_inflight", "lowest_latency", "lowest_cost"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w.\-]+$")]
    kind: Literal["openai", "azure", "anthropic"] = Field(
        "openai",
        description="openai: any OpenAI-compatible server (vLLM, TGI, Ollama, the axops runtime, OpenAI); "
        "azure: Azure OpenAI (targets name deployments); anthropic: the Messages API",
    )
    base_url: HttpUrl = Field(
        description="e.g. http://vllm.internal:8000/v1, https://NAME.openai.azure.com, https://api.anthropic.com"
    )
    api_version: str | None = Field(None, max_length=32, description="Azure OpenAI api-version (default 2024-10-21)")
    api_key: str | None = Field(None, max_length=2000, description="Stored encrypted; never returned")
    timeout_s: float = Field(60.0, gt=0, le=3600)
    external: bool | None = Field(
        None,
        description="Outside the organisation: requests with PII or from no-external-transfer teams/keys avoid it. "
        "Unset: internal for loopback, private and link-local addresses and single-label/.local/.internal/.svc "
        "hosts, external otherwise",
    )


class ProviderUpdate(Strict):
    base_url: HttpUrl | None = None
    api_version: str | None = Field(None, max_length=32)
    api_key: str | None = Field(None, max_length=2000)
    timeout_s: float | None = Field(None, gt=0, le=3600)
    external: bool | None = None


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    kind: str
    base_url: str
    api_version: str | None = None
    timeout_s: float
    external: bool = True
    has_api_key: bool
    created_at: datetime
    updated_at: datetime


class TargetSpec(Strict):
    provider_id: uuid.UUID
    model: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="The model name the upstream knows"
    )
    weight: float = Field(1.0, ge=0, le=1000)
    priority: int = Field(0, ge=0, le=100, description="Lower is tried first")
    input_price: float = Field(
        0.0, ge=0, description="Per 1M prompt tokens (0: derived from the GPU-hour rate when one is given)"
    )
    output_price: float = Field(
        0.0, ge=0, description="Per 1M completion tokens (0: derived from the GPU-hour rate when one is given)"
    )
    gpu_hour_price: float | None = Field(
        None, gt=0, description="Internal models: the price of one GPU-hour (with gpus and throughput)"
    )
    gpus: float | None = Field(
        None, gt=0, le=10_000, description="GPUs the deployment holds (fractional for MIG slices)"
    )
    throughput_tokens_per_s: float | None = Field(
        None, gt=0, description="The deployment's sustained tokens per second"
    )
    tokenizer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = Field(
        None,
        description="Counts tokens when the upstream reports no usage: an OpenAI encoding (o200k_base, cl100k_base, "
        "p50k_base, r50k_base, gpt2) or a registry model version with a tokenizer.json (name@alias, "
        "name:3). Unset: guessed from OpenAI model names, else none",
    )

    @model_validator(mode="after")
    def _gpu_rate(self) -> TargetSpec:
        given = [f for f in GPU_FIELDS if getattr(self, f) is not None]
        if given and len(given) < len(GPU_FIELDS):
            missing = ", ".join(f for f in GPU_FIELDS if f not in given)
            raise ValueError(
                f"GPU-hour pricing needs gpu_hour_price, gpus and throughput_tokens_per_s together (missing: {missing})"
            )
        if self.tokenizer and self.tokenizer not in ENCODINGS and not REGISTRY_REF.match(self.tokenizer):
            raise ValueError(
                f"tokenizer: use an encoding ({', '.join(ENCODINGS)}) or a registry model version (name@alias, name:3)"
            )
        return self


GPU_FIELDS = ("gpu_hour_price", "gpus", "throughput_tokens_per_s")


def effective_prices(spec: dict) -> tuple[float, float]:
    """Per-1M-token (input, output) prices of a target: the explicit ones, else, for a target priced
    by the GPU-hour, what one million tokens cost in GPU time at the deployment's throughput."""
    input_price, output_price = float(spec.get("input_price") or 0.0), float(spec.get("output_price") or 0.0)
    if all(spec.get(f) for f in GPU_FIELDS):
        per_million = spec["gpu_hour_price"] * spec["gpus"] / (spec["throughput_tokens_per_s"] * 3600 / 1e6)
        input_price, output_price = input_price or per_million, output_price or per_million
    return input_price, output_price


class SemanticCacheSettings(Strict):
    """Reuse answers to prompts that mean the same (cosine similarity of their embeddings)."""

    enabled: bool = False
    embeddings_route: ModelName | None = Field(
        None, description="The route that embeds prompts; the route's team must be allowed to call it"
    )
    threshold: float = Field(0.95, ge=0.5, le=1.0, description="Least cosine similarity that counts as the same")
    ttl_s: int = Field(3600, ge=1, le=30 * 86400, description="How long an answer is kept")
    scope: Literal["team", "key"] = Field(
        "team", description="Who shares answers: callers with the same teams, or only the same API key"
    )
    max_entries: int = Field(10_000, ge=1, le=1_000_000, description="Per route; least recently used evicted")

    @model_validator(mode="after")
    def _route_named(self) -> SemanticCacheSettings:
        if self.enabled and not self.embeddings_route:
            raise ValueError("an enabled semantic cache needs embeddings_route")
        return self


class RouteCreate(Strict):
    model_name: ModelName = Field(description="The name clients send as `model`")
    description: str = Field("", max_length=2000)
    strategy: Strategy = "weighted"
    targets: list[TargetSpec] = Field(min_length=1, max_length=50)
    fallbacks: list[TargetSpec] = Field(default_factory=list, max_length=20)
    max_prompt_chars: int | None = Field(None, gt=0, description="Refuse larger requests before any upstream call")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="For the whole request, retries included")
    cache_ttl_s: int = Field(0, ge=0, le=30 * 86400, description="Cache deterministic answers this long (0: off)")
    semantic_cache: SemanticCacheSettings | None = None
    enabled: bool = True
    team_id: uuid.UUID | None = Field(
        None,
        description="Only this team's members (and Admins) may call the route; unset: everyone who may call models",
    )


class RouteUpdate(Strict):
    description: str | None = Field(None, max_length=2000)
    strategy: Strategy | None = None
    targets: list[TargetSpec] | None = Field(None, min_length=1, max_length=50)
    fallbacks: list[TargetSpec] | None = Field(None, max_length=20)
    max_prompt_chars: int | None = Field(None, gt=0)
    timeout_s: float | None = Field(None, gt=0, le=3600)
    cache_ttl_s: int | None = Field(None, ge=0, le=30 * 86400)
    semantic_cache: SemanticCacheSettings | None = Field(None, description="null: off")
    enabled: bool | None = None
    team_id: uuid.UUID | None = Field(
        None, description="Set: only this team's members (and Admins) may call it; null: everyone"
    )


Health = Literal["unknown", "healthy", "failing", "open", "half_open"]


class UpstreamHealth(BaseModel):
    """What this gateway process has seen of one upstream of a route (requests and health probes)."""

    upstream: str = Field(description="provider/model")
    role: Literal["target", "fallback"]
    health: Health = Field(
        description="unknown: not called nor probed yet; failing: recent failures, circuit still closed; "
        "open: circuit open (skipped); half_open: cooled down, the next request is a trial"
    )
    failures: int = Field(description="Failures in a row")
    last_error: str | None = Field(
        None, description="connect, timeout, status (see last_error_status), invalid_answer, stream_broken, error"
    )
    last_error_status: int | None = None
    last_error_at: datetime | None = None
    last_ok_at: datetime | None = None


RouteHealth = Literal["unknown", "healthy", "degraded", "down"]


class RouteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    model_name: str
    description: str
    strategy: str
    targets: list[TargetSpec]
    fallbacks: list[TargetSpec]
    max_prompt_chars: int | None
    timeout_s: float
    cache_ttl_s: int
    semantic_cache: SemanticCacheSettings | None = None
    enabled: bool
    team_id: uuid.UUID | None = None
    visibility: Literal["team", "organization"] = Field(description="team: the team's members and Admins only")
    managed_by: str | None = None
    created_at: datetime
    updated_at: datetime
    health: RouteHealth = Field(
        "unknown",
        description="down: no upstream is healthy (all failing or circuit open); degraded: some are; "
        "unknown: none called nor probed yet",
    )
    upstreams: list[UpstreamHealth] = Field(default_factory=list)


class ModelStatus(BaseModel):
    name: str
    health: RouteHealth = Field(description="As in the routes list: down means every upstream is failing")


class ModelStatusList(BaseModel):
    currency: str = Field(description="The unit of the cost the gateway reports with each answer")
    models: list[ModelStatus]


class RouteDryRun(BaseModel):
    model: str = Field(max_length=200)


class PlannedTarget(BaseModel):
    upstream: str
    base_url: str | None = Field(description="The upstream's address (gateway admins only)")
    model: str
    role: Literal["target", "fallback"]
    circuit: Literal["closed", "open", "half_open"]
    in_flight: int
    latency_ms: float | None
    input_price: float = Field(
        description="Per 1M prompt tokens, as charged (explicit, or derived from the GPU-hour rate)"
    )
    output_price: float = Field(description="Per 1M completion tokens, as charged")
    tokenizer: str | None = Field(
        description="What counts tokens when the upstream reports none (given, guessed, or none)"
    )


class RoutePlan(BaseModel):
    model: str
    strategy: str
    order: list[PlannedTarget] = Field(description="The upstreams this request would try, in order")
    reason: str


class LimitSet(Strict):
    rpm: int | None = Field(None, gt=0, le=10_000_000, description="Requests per minute")
    tpm: int | None = Field(None, gt=0, le=1_000_000_000, description="Tokens per minute")
    monthly_budget: float | None = Field(
        None, ge=0, description="Spend per calendar month (UTC), in the price table's currency"
    )
    warn_ratio: float = Field(
        0.8, gt=0, le=1, description="Raise a warning event when this share of the budget is spent"
    )


class LimitOut(LimitSet):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    scope: Literal["key", "user", "team"]
    subject_id: uuid.UUID
    spent_this_month: float | None = None


class UsagePoint(BaseModel):
    group: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    p50_ms: float | None
    p95_ms: float | None
    cache_hits: int
    ts: datetime | None = None


class UsageOut(BaseModel):
    currency: str = Field("USD", description="The unit of every cost figure (route prices are per 1M tokens in it)")
    bucket: Literal["hour", "day"]
    group_by: str
    since: datetime
    until: datetime
    series: list[UsagePoint]
    totals: list[UsagePoint]


class InferenceRequest(Strict):
    prompt: str | None = Field(None, max_length=1_000_000, description="A user message (or give `messages`)")
    messages: list[dict] | None = Field(None, max_length=1000, description="OpenAI-style chat messages")
    system: str | None = Field(None, max_length=100_000)
    max_tokens: int | None = Field(None, gt=0, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2)


class InferenceResult(BaseModel):
    model: str
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    upstream: str | None
    latency_ms: float


class RequestLogOut(BaseModel):
    """One gateway request. `request` and `response` are the PII-masked text, present only when
    the calling key logs content (has_content)."""

    id: uuid.UUID
    created_at: datetime
    request_id: str | None
    api_key_id: uuid.UUID | None
    api_key_name: str | None = None
    api_key_prefix: str | None = None
    user_id: uuid.UUID | None
    username: str | None = None
    endpoint: str
    model: str
    upstream: str | None
    stream: bool
    status: int
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    ttft_ms: float | None
    attempts: int
    cache: str
    prompt_name: str | None = Field(None, description="The saved prompt the request was made with (`prompt_id`)")
    prompt_version: int | None = None
    has_content: bool
    request: dict | None = None
    response: str | None = None


class RequestLogPage(BaseModel):
    items: list[RequestLogOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="Requests matching the filters (first page only; exact)")
    total_at_least: int | None = Field(None, description="Set instead of total when more than this many match")
    currency: str = "USD"
