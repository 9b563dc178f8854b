"""Tables of run inputs and outputs as MLflow logs them (runs/log-inputs, runs/log-outputs)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin


class RunDatasetInput(IdMixin, Base):
    """A dataset a run used (mlflow.log_input): MLflow's dataset fields as the client sent them, the input's
    tags (mlflow.data.context...) and, when the source is an axops dataset version the caller may see, a link
    to it. One row per (run, name, digest): logging the same dataset again is a no-op, as in MLflow."""

    __tablename__ = "run_dataset_inputs"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    dataset_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="SET NULL"))
    # clock_timestamp, not now(): the inputs of one request keep the order they were sent in
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
    __table_args__ = (
        UniqueConstraint("run_id", "name", "digest", name="uq_run_dataset_inputs_run_name_digest"),
        Index("ix_run_dataset_inputs_dataset_version_id", "dataset_version_id"),
    )


class RunModelLink(IdMixin, Base):
    """A logged model a run read (direction 'input', from log-inputs) or produced ('output', from log-outputs).
    model_id is MLflow's logged-model id as sent (no foreign key: logged models live in another module)."""

    __tablename__ = "run_model_links"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    model_id: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (UniqueConstraint("run_id", "direction", "model_id", name="uq_run_model_links"),)
