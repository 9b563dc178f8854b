from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

SENSITIVITY = ("public", "internal", "confidential", "restricted")
# uploading → processing → ready | failed; review: uploaded → scanned → approved | rejected
STATUSES = ("uploading", "processing", "ready", "failed")
REVIEW = ("uploaded", "scanned", "approved", "rejected")
SOURCES = ("upload", "masked", "split")


class Dataset(IdMixin, TimestampMixin, Base):
    __tablename__ = "datasets"
    name: Mapped[str] = mapped_column(String(200))  # unique per team
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="team")
    # Rows are matched on this column in diffs when set; else by whole-row hash.
    key_column: Mapped[str | None] = mapped_column(String(300))
    # The level the owner set; the effective level is the higher of this and the scans'.
    sensitivity_floor: Mapped[str] = mapped_column(String(16), default="public")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Soft delete (datasets/recovery.py): hidden from every read by `scoping.visible`, purged after the window.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_datasets_team_id_name"),
        Index("ix_datasets_deleted_at", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
        CheckConstraint("visibility IN ('team', 'organization')", name="visibility"),
        CheckConstraint(f"sensitivity_floor IN {SENSITIVITY}", name="sensitivity_floor"),
    )


class DatasetVersion(IdMixin, TimestampMixin, Base):
    __tablename__ = "dataset_versions"
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(32))  # train / validation / test for splits
    status: Mapped[str] = mapped_column(String(16), default="uploading")
    error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="upload")
    parent_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="SET NULL"))
    lineage: Mapped[dict] = mapped_column(JSONB, default=dict)
    filename: Mapped[str] = mapped_column(String(300))
    format: Mapped[str | None] = mapped_column(String(16))
    encoding: Mapped[str | None] = mapped_column(String(32))
    original_key: Mapped[str | None] = mapped_column(String(1000))
    parquet_key: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    columns: Mapped[list] = mapped_column(JSONB, default=list)  # [{"name", "type"}]
    progress: Mapped[dict] = mapped_column(JSONB, default=dict)  # upload parts, task progress
    quality: Mapped[dict | None] = mapped_column(JSONB)
    pii: Mapped[dict | None] = mapped_column(JSONB)
    sensitivity: Mapped[str | None] = mapped_column(String(16))  # from the last PII scan
    review_status: Mapped[str] = mapped_column(String(16), default="uploaded")
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"review_status IN {REVIEW}", name="review_status"),
        CheckConstraint(f"source IN {SOURCES}", name="source"),
    )
