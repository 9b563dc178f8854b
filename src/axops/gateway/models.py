from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

PROVIDER_KINDS = ("openai", "azure", "anthropic")
STRATEGIES = ("weighted", "round_robin", "least_inflight", "lowest_latency", "lowest_cost")


class Provider(IdMixin, TimestampMixin, Base):
    """An upstream service speaking a known API at a base URL (vLLM, TGI, Ollama, the axops
    runtime, OpenAI itself ...). Its API key is stored encrypted and never returned."""

    __tablename__ = "gateway_providers"
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="openai")
    base_url: Mapped[str] = mapped_column(String(500))
    api_version: Mapped[str | None] = mapped_column(String(32))  # Azure OpenAI's api-version
    credentials: Mapped[str | None] = mapped_column(Text)  # Fernet token
    timeout_s: Mapped[float] = mapped_column(Float, default=60.0)
    # Outside the organisation (OpenAI, Anthropic ...): PII and no-external-transfer callers are kept
    # off it (axops.policy). Given when created; else decided by address (gateway/transfer.py internal_address).
    external: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (CheckConstraint(f"kind IN {PROVIDER_KINDS}", name="kind"),)


class Route(IdMixin, TimestampMixin, Base):
    """A public model name and the upstream targets that serve it.

    targets: [{"provider_id", "model", "weight", "priority", "input_price", "output_price"}] —
    lower priority first; within a priority the strategy orders them. fallbacks: the same shape,
    tried in order after every target failed."""

    __tablename__ = "gateway_routes"
    model_name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    strategy: Mapped[str] = mapped_column(String(24), default="weighted")
    targets: Mapped[list] = mapped_column(JSONB, default=list)
    fallbacks: Mapped[list] = mapped_column(JSONB, default=list)
    max_prompt_chars: Mapped[int | None] = mapped_column(Integer)
    timeout_s: Mapped[float] = mapped_column(Float, default=120.0)  # the whole request, retries included
    # Exact-match answer cache for deterministic requests (temperature 0, or asked for): seconds, 0 = off.
    cache_ttl_s: Mapped[int] = mapped_column(Integer, default=0)
    # Semantic answer cache (semantic_cache.py): {enabled, embeddings_route, threshold, ttl_s, scope, max_entries}.
    semantic_cache: Mapped[dict | None] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # set when serving keeps this route in step with a deployment's replicas ("deployment:<id>")
    managed_by: Mapped[str | None] = mapped_column(String(64))
    # Who may call it: "organization" — anyone with gateway:invoke; "team" — members of team_id and
    # Admins. A deployment's route takes the deployment's team and its model's visibility.
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    visibility: Mapped[str] = mapped_column(String(16), default="organization", server_default="organization")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint(f"strategy IN {STRATEGIES}", name="strategy"),
        CheckConstraint(
            "visibility IN ('team', 'organization') AND (visibility = 'organization' OR team_id IS NOT NULL)",
            name="visibility",
        ),
    )


class Limit(IdMixin, TimestampMixin, Base):
    """Requests/tokens per minute and a monthly budget for one API key, user or team."""

    __tablename__ = "gateway_limits"
    scope: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    monthly_budget: Mapped[float | None] = mapped_column(Float)
    warn_ratio: Mapped[float] = mapped_column(Float, default=0.8)
    __table_args__ = (
        UniqueConstraint("scope", "subject_id"),
        CheckConstraint("scope IN ('key', 'user', 'team')", name="scope"),
    )


class RequestLog(Base):
    """Request and answer text of API keys that log content, PII-masked before storage; kept
    `AXOPS_REQUEST_LOG_RETENTION_DAYS` (monthly partitions)."""

    __tablename__ = "gateway_request_logs"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True, server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    request: Mapped[str] = mapped_column(Text)  # JSON: masked messages (or prompt)
    response: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        Index("ix_gateway_request_logs_created_at", "created_at"),
        Index("ix_gateway_request_logs_key_created_at", "api_key_id", "created_at"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )


class UsageRecord(Base):
    """One gateway request; written in batches off the request path; partitioned by month."""

    __tablename__ = "usage_records"
    # Made by PostgreSQL as rows arrive by COPY (cheaper than in Python on the request path).
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True, server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    endpoint: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    upstream: Mapped[str | None] = mapped_column(String(300))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    cache: Mapped[str] = mapped_column(String(16), default="off")  # hit, miss, off; semantic, semantic_miss
    saved_cost: Mapped[float] = mapped_column(Float, default=0.0)  # what a cache hit would have cost upstream
    # a request made with `prompt_id`: the prompt and version rendered, and the A/B experiment that chose it
    prompt_name: Mapped[str | None] = mapped_column(String(200))
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    prompt_experiment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # input drift and usage anomalies (monitoring/drift_features.py; migration 0022): null on older rows
    prompt_chars: Mapped[int | None] = mapped_column(Integer)
    hangul_ratio: Mapped[float | None] = mapped_column(Float)
    latin_ratio: Mapped[float | None] = mapped_column(Float)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        Index(
            "ix_usage_records_prompt_experiment",
            "prompt_experiment_id",
            "created_at",
            postgresql_where=text("prompt_experiment_id IS NOT NULL"),
        ),
        # the home dashboard's last 24 h over every user (migration 0013): index-only by time
        Index("ix_usage_records_created_at", "created_at", postgresql_include=["status", "latency_ms", "cost"]),
        Index("ix_usage_records_model_created_at", "model", "created_at"),
        Index("ix_usage_records_user_created_at", "user_id", "created_at"),
        Index("ix_usage_records_team_created_at", "team_id", "created_at"),
        Index("ix_usage_records_key_created_at", "api_key_id", "created_at"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )
