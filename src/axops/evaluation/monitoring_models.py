"""Quality monitoring tables (migration 0017): a monitor judges a sampled share of one gateway route's
production requests with an LLM judge, and every judged request is a point of that route's quality
time series (`quality_scores`); hourly and daily aggregates are computed by query (monitoring.py)."""

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
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin


class QualityMonitor(IdMixin, TimestampMixin, Base):
    """Judge `route`'s requests whose masked text the gateway logged: each with probability
    `sample_rate` (decided by a hash of the usage record's id, so a sweep run twice picks the same
    ones), at most `max_per_hour` judged in any hour. The sweep reads records after the watermark
    (`watermark_at`, `watermark_id`) and moves it past what it read. The monitor sees what its
    creator sees in the request log: every caller's requests for a gateway admin, else the creator's own."""

    __tablename__ = "quality_monitors"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    route: Mapped[str] = mapped_column(String(200))  # the monitored gateway route (its public model name)
    judge_route: Mapped[str] = mapped_column(String(200))
    rubric: Mapped[str] = mapped_column(String(64))  # a built-in rubric, or a custom one's name with `criteria`
    criteria: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(String(300))  # a custom rubric as a saved prompt reference
    scale: Mapped[int] = mapped_column(Integer, default=5)
    sample_rate: Mapped[float] = mapped_column(Float, default=0.05)
    max_per_hour: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    watermark_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    watermark_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_swept_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # sampled requests left unjudged because the hour's budget was spent
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    # The monitor's gateway API key (owner: the creator, scope gateway:invoke, no content logging):
    # id to revoke it, plaintext encrypted with core.crypto.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    api_key_secret: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_quality_monitors_team_id_name"),
        CheckConstraint("sample_rate > 0 AND sample_rate <= 1", name="sample_rate"),
        CheckConstraint("max_per_hour BETWEEN 1 AND 10000", name="max_per_hour"),
        CheckConstraint("scale BETWEEN 2 AND 10", name="scale"),
    )


class QualityScore(IdMixin, Base):
    """One judged production request: a point of its route's quality series at the request's time.
    `score` is 0..1 (None when the judge failed: `error` says why); `reasoning` is the judge's text
    about PII-masked input and output."""

    __tablename__ = "quality_scores"
    monitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quality_monitors.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(String(200))
    usage_record_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the request was made
    judged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rubric: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[int | None] = mapped_column(Integer)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("monitor_id", "usage_record_id", name="uq_quality_scores_monitor_id_usage_record_id"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score"),
        Index("ix_quality_scores_monitor_id_created_at", "monitor_id", "created_at"),
        Index("ix_quality_scores_monitor_id_judged_at", "monitor_id", "judged_at"),
        Index("ix_quality_scores_route_created_at", "route", "created_at"),
    )
