"""Drift and usage-anomaly tables (migration 0022): a route's pinned reference window, the drift job's
results per route, feature and test, and the usage anomalies found per API key and user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin

ANOMALY_KINDS = ("requests", "tokens", "errors", "off_hours", "new_ip")


class DriftReference(Base):
    """A reference window pinned for a route (without one: the 7 days before the current window)."""

    __tablename__ = "drift_references"
    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    reference_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reference_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DriftResult(IdMixin, Base):
    __tablename__ = "drift_results"
    route: Mapped[str] = mapped_column(String(200))
    feature: Mapped[str] = mapped_column(String(32))  # prompt_chars, prompt_tokens, hangul_ratio, ...
    test: Mapped[str] = mapped_column(String(16))  # psi, ks, mix (total variation)
    statistic: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))  # stable, moderate, drifted
    n_current: Mapped[int] = mapped_column(Integer)
    n_reference: Mapped[int] = mapped_column(Integer)
    current_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reference_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reference_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_drift_results_route_computed_at", "route", "computed_at"),)


class UsageAnomaly(IdMixin, Base):
    """One anomaly of an API key or a user. At most one unacknowledged row per (kind, subject): a new
    finding updates it; `keys` lists what it was about (hour buckets, client IPs) so an acknowledged
    finding is not raised again."""

    __tablename__ = "usage_anomalies"
    kind: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(16))  # api_key, user
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    subject_name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the key's owner, or the user
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    keys: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    detail: Mapped[dict] = mapped_column(JSONB)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint(f"kind IN {ANOMALY_KINDS}", name="kind"),
        CheckConstraint("subject_type IN ('api_key', 'user')", name="subject_type"),
        Index(
            "uq_usage_anomalies_open",
            "kind",
            "subject_type",
            "subject_id",
            unique=True,
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
        Index("ix_usage_anomalies_last_seen", "last_seen"),
    )
