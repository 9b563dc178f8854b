"""Evaluation tables: evaluation sets (a dataset version + a column mapping), runs of targets over a
set's rows, the rows a run sampled, each target's result per row, and suites (thresholds, gate).
Review queues live in review_models.py (migration 0016)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "stopped")
FINISHED = ("succeeded", "failed", "cancelled", "stopped")
TARGET_KEYS = ("A", "B", "C", "D")


class EvalSet(IdMixin, TimestampMixin, Base):
    """A dataset version plus which columns hold the input, the references, context and metadata:
    `mapping` = {"input": col, "input_format": "text"|"messages", "references": [cols], "context": col|None,
    "metadata": [cols]}."""

    __tablename__ = "eval_sets"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    dataset_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT"), index=True
    )
    mapping: Mapped[dict] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_eval_sets_team_id_name"),)


class EvalSuite(IdMixin, TimestampMixin, Base):
    """A set + metrics/judges + thresholds, optionally attached to a model (its logic: gates.py, suites.py)."""

    __tablename__ = "eval_suites"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    eval_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_sets.id", ondelete="RESTRICT"), index=True)
    metrics: Mapped[list] = mapped_column(JSONB, default=list)
    judges: Mapped[list] = mapped_column(JSONB, default=list)
    tokenizer: Mapped[str] = mapped_column(String(16), default="auto")
    sample_size: Mapped[int | None] = mapped_column(Integer)
    thresholds: Mapped[list] = mapped_column(JSONB, default=list)
    model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("registered_models.id", ondelete="SET NULL"), index=True
    )
    target: Mapped[dict | None] = mapped_column(JSONB)
    run_on_new_version: Mapped[bool] = mapped_column(Boolean, default=False)
    interval_hours: Mapped[int | None] = mapped_column(Integer)
    last_scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_eval_suites_team_id_name"),)


class EvalRun(IdMixin, Base):
    __tablename__ = "eval_runs"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200), default="")
    eval_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_sets.id", ondelete="CASCADE"), index=True)
    suite_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("eval_suites.id", ondelete="SET NULL"), index=True)
    model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), index=True
    )
    targets: Mapped[list] = mapped_column(JSONB)
    metrics: Mapped[list] = mapped_column(JSONB, default=list)
    judges: Mapped[list] = mapped_column(JSONB, default=list)
    tokenizer: Mapped[str] = mapped_column(String(16), default="auto")
    sample_size: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    concurrency: Mapped[int] = mapped_column(Integer, default=8)
    max_cost: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[dict] = mapped_column(JSONB, default=dict)  # {"done", "total", "errors"}
    estimate: Mapped[dict | None] = mapped_column(JSONB)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    summary: Mapped[dict | None] = mapped_column(JSONB)  # the report's metric means per target
    verdict: Mapped[dict | None] = mapped_column(JSONB)  # suite threshold results
    passed: Mapped[bool | None] = mapped_column(Boolean)
    experiment_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The run's gateway API key: id to revoke it, plaintext encrypted with core.crypto.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    api_key_secret: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        CheckConstraint("concurrency BETWEEN 1 AND 64", name="concurrency"),
        Index("ix_eval_runs_team_id_created_at", "team_id", "created_at"),
    )


class EvalRow(Base):
    """One sampled row of a run, as the targets saw it."""

    __tablename__ = "eval_rows"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    input: Mapped[str] = mapped_column(Text)
    references: Mapped[list] = mapped_column(JSONB, default=list)
    context: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict] = mapped_column("metadata", JSONB, default=dict)
    pairwise: Mapped[dict] = mapped_column(JSONB, default=dict)


class EvalResult(Base):
    """One target's answer to one row, with its scores and judges' grades."""

    __tablename__ = "eval_results"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_key: Mapped[str] = mapped_column(String(1), primary_key=True)
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    scores: Mapped[dict] = mapped_column(JSONB, default=dict)
    judges: Mapped[dict] = mapped_column(JSONB, default=dict)
