from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

TASKS = ("text-generation", "embedding", "classification", "image", "audio", "other")
STAGES = ("draft", "staging", "production", "archived")
SOURCES = ("upload", "huggingface", "local", "training")
STATUSES = ("uploading", "importing", "ready", "failed")


class RegisteredModel(IdMixin, TimestampMixin, Base):
    __tablename__ = "registered_models"
    name: Mapped[str] = mapped_column(String(200))  # unique per team (case-insensitively, checked by the service)
    description: Mapped[str] = mapped_column(Text, default="")
    task: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    visibility: Mapped[str] = mapped_column(String(16), default="team")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Soft delete (registry/recovery.py): hidden from every read by `scoping.visible`, purged after the window.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Copied from the newest ready version so lists filter and search without joins.
    architecture: Mapped[str | None] = mapped_column(String(100))
    parameter_count: Mapped[int | None] = mapped_column(BigInteger)
    # MLflow's key/value tags (the MLflow registry API); axops `tags` stay plain labels.
    mlflow_tags: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    # Deferred: only SQL reads these (search); loading them with every model would be waste.
    card_text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(description, '') || ' ' || "
            "coalesce(card_text, ''))",
            persisted=True,
        ),
        deferred=True,
    )

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_registered_models_team_id_name"),
        CheckConstraint(f"task IN {TASKS}", name="task"),
        CheckConstraint("visibility IN ('team', 'organization')", name="visibility"),
        Index("ix_registered_models_created_at_id", "created_at", "id"),
        Index("ix_registered_models_search", "search", postgresql_using="gin"),
        Index("ix_registered_models_tags", "tags", postgresql_using="gin"),
        Index("ix_registered_models_team_id", "team_id"),
        Index("ix_registered_models_architecture", "architecture"),
        Index("ix_registered_models_parameter_count", "parameter_count"),
        Index("ix_registered_models_deleted_at", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
        # MLflow's registry search orders by name and filters `name LIKE 'prefix%'` (migration 0035).
        Index("ix_registered_models_name_id", "name", "id"),
        Index("ix_registered_models_name_pattern", "name", postgresql_ops={"name": "varchar_pattern_ops"}),
    )


class ModelVersion(IdMixin, TimestampMixin, Base):
    __tablename__ = "model_versions"
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    stage: Mapped[str] = mapped_column(String(16), default="draft")
    source: Mapped[str] = mapped_column(String(16), default="upload")
    source_ref: Mapped[str | None] = mapped_column(Text)
    # Lineage, filled by imports and by training runs.
    base_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    dataset_version_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    card: Mapped[dict] = mapped_column(JSONB, default=dict)
    card_markdown: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict | None] = mapped_column(JSONB)
    metrics: Mapped[dict] = mapped_column(JSONB, default=dict)
    progress: Mapped[dict] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    artifacts_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written through the MLflow registry API (model-versions/update, set-tag).
    mlflow_description: Mapped[str] = mapped_column(Text, default="", server_default="")
    mlflow_tags: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    mlflow_run_link: Mapped[str | None] = mapped_column(String(500))  # model-versions/create's run_link

    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
        CheckConstraint(f"stage IN {STAGES}", name="stage"),
        CheckConstraint(f"source IN {SOURCES}", name="source"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
    )


class ModelFile(Base):
    __tablename__ = "model_files"
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(Text)


class ModelAlias(Base):
    """A movable name (`production`, `champion`) pointing at one version of a model."""

    __tablename__ = "model_aliases"
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
