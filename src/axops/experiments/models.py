from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

LIFECYCLES = ("active", "deleted")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
TERMINAL = ("FINISHED", "FAILED", "KILLED")


class Experiment(IdMixin, TimestampMixin, Base):
    """A named group of runs, owned by a team (name unique per team)."""

    __tablename__ = "experiments"
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_experiments_team_name"),
        CheckConstraint(f"lifecycle IN {LIFECYCLES}", name="lifecycle"),
    )


class Run(IdMixin, TimestampMixin, Base):
    """One execution (a training job, a notebook session): params and tags as JSONB maps of strings."""

    __tablename__ = "runs"
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))  # = the experiment's
    name: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    # Links. job_id has no foreign key: training jobs live in another domain (and may be cleaned up).
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    base_model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    dataset_version_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        CheckConstraint(f"lifecycle IN {LIFECYCLES}", name="lifecycle"),
        Index("ix_runs_experiment_start_time", "experiment_id", "start_time"),
        Index("ix_runs_team_start_time", "team_id", "start_time"),
        Index("ix_runs_job_id", "job_id"),
    )


# Every metric point. Written only by multi-row inserts over unnest() arrays (never the ORM), read by
# (run_id, key) in step order. No primary key (points may repeat, as in MLflow) and no foreign key to
# runs (a per-row RI check would cost more than the insert itself): rows go with their run in the service.
run_metrics = Table(
    "run_metrics",
    Base.metadata,
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),  # double precision; NaN / ±Infinity allowed
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # ms since the epoch
    Index("ix_run_metrics_run_id_key_step", "run_id", "key", "step"),
)


class RunLatestMetric(Base):
    """The latest point of each (run, key) — largest step, then timestamp: what run lists and filters read."""

    __tablename__ = "run_latest_metrics"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_run_latest_metrics_key_value", "key", "value"),)


class RunMetricLink(Base):
    """What MLflow 3 sends with a metric point besides its value: the logged model and the dataset it
    was measured for. Kept once per (run, key, model, dataset) rather than per point; '' where not sent."""

    __tablename__ = "run_metric_links"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(500), primary_key=True)
    dataset_digest: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    __table_args__ = (Index("ix_run_metric_links_model_id", "model_id"),)


# The points logged with a link (MLflow's logged_model_metrics): what a logged model's `metrics` lists.
# Written with the run_metrics insert of the same points, never through the ORM.
run_metric_link_points = Table(
    "run_metric_link_points",
    Base.metadata,
    Column("link_id", BigInteger, ForeignKey("run_metric_links.id", ondelete="CASCADE"), primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("value", Float, primary_key=True),
)


class RunArtifact(Base):
    """A file logged to a run (MLflow's log_artifact): its bytes in the object store under the run."""

    __tablename__ = "run_artifacts"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)  # relative, "/"-separated: "plots/loss.png"
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
