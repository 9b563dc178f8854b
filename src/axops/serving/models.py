from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

ENGINES = ("auto", "transformers", "vllm")
EXECUTORS = ("local", "kubernetes")
# pending: recorded, not picked up yet · loading: replicas starting, none ready · ready · degraded:
# fewer ready replicas than wanted (or none, after having been ready) · failed: cannot run (reason) · stopped
STATUSES = ("pending", "loading", "ready", "degraded", "failed", "stopped")
ACTIVE = ("pending", "loading", "ready", "degraded")


class Deployment(IdMixin, TimestampMixin, Base):
    """A model version served under a public model name, realised by an executor.

    A canary is a deployment of its own (`canary_of` = the stable one) that shares the stable
    deployment's gateway route with `canary_weight` percent of the traffic."""

    __tablename__ = "deployments"
    name: Mapped[str] = mapped_column(String(200))  # the model name clients send to /v1
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    engine: Mapped[str] = mapped_column(String(16), default="auto")
    executor: Mapped[str] = mapped_column(String(16), default="local")
    replicas_min: Mapped[int] = mapped_column(Integer, default=1)
    replicas_max: Mapped[int] = mapped_column(Integer, default=1)
    replicas_desired: Mapped[int] = mapped_column(Integer, default=1)
    # {cpu, memory_bytes, gpu, gpu_type, mig_profile, node_selector, tolerations}
    resources: Mapped[dict] = mapped_column(JSONB, default=dict)
    # queued + running requests per replica that autoscaling aims for
    autoscale_target: Mapped[float] = mapped_column(Float, default=4.0)
    max_batch: Mapped[int] = mapped_column(Integer, default=16)
    generation: Mapped[int] = mapped_column(
        Integer, default=0
    )  # bumped by a restart: replicas of older ones are replaced
    canary_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))
    canary_weight: Mapped[int] = mapped_column(Integer, default=0)  # percent of the route's traffic
    # automatic rollback of a canary: {max_error_rate, max_p95_ms, window_s, min_requests}
    rollback_policy: Mapped[dict] = mapped_column(JSONB, default=dict)
    pricing: Mapped[dict] = mapped_column(
        JSONB, default=dict
    )  # {gpu_hour_price, throughput_tokens_per_s}: requests priced by GPU time
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    replicas: Mapped[list] = mapped_column(JSONB, default=list)  # live replica state, written by the executor
    events: Mapped[list] = mapped_column(JSONB, default=list)  # the latest status changes, newest last
    runtime_key: Mapped[str | None] = mapped_column(Text)  # the runtime's API key (encrypted): it reads the version
    serve_token: Mapped[str | None] = mapped_column(Text)  # what the gateway must send its replicas (encrypted)
    runtime_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready_seconds: Mapped[float | None] = mapped_column(Float)  # deploy → first ready (SLO: ≤ 120 s)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"engine IN {ENGINES}", name="engine"),
        CheckConstraint(f"executor IN {EXECUTORS}", name="executor"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint("replicas_min >= 1 AND replicas_max >= replicas_min", name="replicas"),
        CheckConstraint("canary_weight BETWEEN 0 AND 100", name="canary_weight"),
        # one live deployment per public name (a canary has its own name)
        Index("uq_deployments_live_name", "name", unique=True, postgresql_where=text("status <> 'stopped'")),
        Index("ix_deployments_team_created_at", "team_id", "created_at"),
    )
