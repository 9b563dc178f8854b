"""Tables of violation detection: the violations found and the per-rule settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin


class Violation(IdMixin, TimestampMixin, Base):
    """One policy violation of one subject (user, API key or team). At most one per (kind, subject) is
    active (open or acknowledged); later events add to it. `evidence` holds ids and counts only."""

    __tablename__ = "violations"
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(100))
    subject_name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    evidence: Mapped[dict] = mapped_column(JSONB, default=dict)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str | None] = mapped_column(String(32))  # key_suspended, when the automatic action ran
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        CheckConstraint("severity IN ('critical', 'warning', 'info')", name="severity"),
        CheckConstraint("subject_type IN ('user', 'apikey', 'team')", name="subject_type"),
        Index("ix_violations_created_at_id", "created_at", "id"),
        Index(
            "uq_violations_active",
            "kind",
            "subject_type",
            "subject_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
    )


class ViolationRule(Base):
    """An administrator's settings for one rule (or `auto_suspend`); absent rows use the defaults."""

    __tablename__ = "violation_rules"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    config: Mapped[dict] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))


class ViolationWatermark(Base):
    """Where the last detection run stopped (one row), so each run reads only newer events."""

    __tablename__ = "violation_watermark"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
