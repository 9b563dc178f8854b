"""Metric history tables: one row per series (a name and its labels), raw points, and per-minute and
per-hour rollups (count, sum, min, max per closed bucket), plus each collector's watermark."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Double, ForeignKey, Identity, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base


class MetricSeries(Base):
    __tablename__ = "metric_series"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict] = mapped_column(JSONB)
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # for per-team scoping (later)
    __table_args__ = (UniqueConstraint("name", "labels", name="uq_metric_series_name_labels"),)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    series_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("metric_series.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    value: Mapped[float] = mapped_column(Double)
    # by time alone: the minute rollup reads the last hours of every series, the retention the oldest
    __table_args__ = (Index("ix_metric_points_ts", "ts"),)


class _Rollup:
    series_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("metric_series.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)


class MetricPoint1m(_Rollup, Base):
    __tablename__ = "metric_points_1m"
    __table_args__ = (Index("ix_metric_points_1m_bucket", "bucket"),)


class MetricPoint1h(_Rollup, Base):
    __tablename__ = "metric_points_1h"
    __table_args__ = (Index("ix_metric_points_1h_bucket", "bucket"),)


class MetricWatermark(Base):
    """How far a collector has counted (its source's rows before `at` are in the history)."""

    __tablename__ = "metric_watermarks"
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
