from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
METHODS = ("full", "lora", "qlora")
DISTRIBUTED = ("none", "ddp", "fsdp", "deepspeed")
EXECUTORS = ("local", "kubernetes", "ray")
# what a failure was, for people: shown with the reason next to the log lines that tell
FAILURE_KINDS = ("data", "oom", "distributed", "user_code", "killed", "checkpoint", "cancelled")


class TrainingJob(IdMixin, TimestampMixin, Base):
    __tablename__ = "training_jobs"
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    status_reason: Mapped[str | None] = mapped_column(Text)  # why it waits, or why it failed
    failure_kind: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    base_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    dataset_version_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    column_mapping: Mapped[dict] = mapped_column(
        JSONB
    )  # {"text": col} | {"prompt": col, "response": col} | {"messages": col}
    method: Mapped[str] = mapped_column(String(8))
    lora: Mapped[dict] = mapped_column(JSONB, default=dict)
    hyperparameters: Mapped[dict] = mapped_column(JSONB)
    resources: Mapped[dict] = mapped_column(JSONB)  # {gpus, gpu_type, processes, nodes, cpu, memory_gb}
    distributed: Mapped[str] = mapped_column(String(16), default="none")
    executor: Mapped[str] = mapped_column(String(16), default="local")
    max_retries: Mapped[int] = mapped_column(Integer, default=1)
    resume: Mapped[bool] = mapped_column(default=True)  # a retry starts from the latest checkpoint
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output_model_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("registered_models.id", ondelete="SET NULL"))
    output_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the experiment run it logs to
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("training_sweeps.id", ondelete="SET NULL"))
    trial_params: Mapped[dict] = mapped_column(
        JSONB, default=dict
    )  # a sweep trial's values, e.g. {"hyperparameters.learning_rate": 0.01}
    progress: Mapped[dict] = mapped_column(JSONB, default=dict)  # {step, max_steps, epoch, loss}
    checkpoints: Mapped[list] = mapped_column(JSONB, default=list)  # [{step, key, size, at}]
    # where the running attempt runs: {"where": text for people, "gpus": [...] locally, "handle": the executor's job id}
    placement: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")
    runtime_key: Mapped[str | None] = mapped_column(Text)  # encrypted API key the runtime acts with
    runtime_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"method IN {METHODS}", name="method"),
        CheckConstraint(f"distributed IN {DISTRIBUTED}", name="distributed"),
        CheckConstraint(f"executor IN {EXECUTORS}", name="executor"),
        Index("ix_training_jobs_queue", "status", "priority", "queued_at"),
        Index("ix_training_jobs_team_created_at", "team_id", "created_at"),
        Index("ix_training_jobs_finished_at", "finished_at", postgresql_where=text("finished_at IS NOT NULL")),
    )


class TrainingSweep(IdMixin, TimestampMixin, Base):
    """A hyperparameter search: one job per trial, the best picked by a metric of their runs."""

    __tablename__ = "training_sweeps"
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    strategy: Mapped[str] = mapped_column(String(8))  # grid | random
    space: Mapped[dict] = mapped_column(
        JSONB
    )  # {"hyperparameters.learning_rate": {"values": [...]} | {"min", "max", "log"}}
    metric: Mapped[str] = mapped_column(String(250), default="loss")
    mode: Mapped[str] = mapped_column(String(4), default="min")
    seed: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("strategy IN ('grid', 'random')", name="strategy"),
        CheckConstraint("mode IN ('min', 'max')", name="mode"),
    )


class TeamQuota(Base):
    """GPUs a team's running jobs may hold at once (no row: no limit)."""

    __tablename__ = "training_quotas"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    gpus: Mapped[int] = mapped_column(Integer)


class JobLogLine(Base):
    """A job's output, line by line, kept for its page (history by `seq`, live by polling after it)."""

    __tablename__ = "training_job_logs"
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    line: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_training_job_logs_job_seq", "job_id", "seq"),)
