"""MLflow 3 logged models: a model produced by a run, its files kept with the run's artifacts."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

STATUSES = ("PENDING", "READY", "FAILED")
LIFECYCLES = ("active", "deleted")


class LoggedModel(IdMixin, TimestampMixin, Base):
    """MLflow's id is "m-" + id.hex. Files live under the source run's artifacts at logged-models/<model id>/,
    so they are stored, listed and removed with the run (experiments/artifacts.py)."""

    __tablename__ = "logged_models"
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))  # MLflow's source_run_id
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))  # = the run's
    name: Mapped[str] = mapped_column(String(250))
    model_type: Mapped[str | None] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    status_message: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"lifecycle IN {LIFECYCLES}", name="lifecycle"),
        Index("ix_logged_models_run_id", "run_id"),
        Index("ix_logged_models_experiment_id_created_at", "experiment_id", "created_at"),
    )
