"""Alerting tables (migration 0019): rules over the metric history, the alerts they raise (one row per
rule, label set and episode: pending → firing → resolved), silences, and the notifications the
engine decided to send (delivery sends them to the rule's channels)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin


class AlertRule(IdMixin, TimestampMixin, Base):
    __tablename__ = "alert_rules"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    expression: Mapped[str] = mapped_column(Text)
    for_s: Mapped[int] = mapped_column(Integer, default=0)  # how long the condition holds before firing
    severity: Mapped[str] = mapped_column(String(16))  # critical | warning | info
    labels: Mapped[dict] = mapped_column(JSONB, default=dict)  # added to every alert's labels
    annotations: Mapped[dict] = mapped_column(JSONB, default=dict)  # summary/description templates
    group_by: Mapped[list] = mapped_column(JSONB, default=list)  # label keys: one notification per group
    repeat_s: Mapped[int] = mapped_column(Integer, default=4 * 3600)
    channel_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[str | None] = mapped_column(String(64))  # the built-in pack's key, for idempotent installs
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_alert_rules_team_name"),
        Index(
            "uq_alert_rules_team_builtin",
            "team_id",
            "builtin",
            unique=True,
            postgresql_where=text("builtin IS NOT NULL"),
        ),
    )


class Alert(IdMixin, Base):
    """One episode of one label set of a rule. While pending or firing it is 'open' (at most one open
    row per rule and fingerprint); a pending alert whose condition clears is deleted."""

    __tablename__ = "alerts"
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict] = mapped_column(JSONB)  # the series' labels
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Double)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the condition first held
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last firing notification
    silenced: Mapped[bool] = mapped_column(Boolean, default=False)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acked_by_name: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (
        Index("uq_alerts_open", "rule_id", "fingerprint", unique=True, postgresql_where=text("state <> 'resolved'")),
        Index("ix_alerts_started", "started_at", "id"),
    )


class AlertSilence(IdMixin, TimestampMixin, Base):
    """Alerts of the team whose labels (with alertname, severity, team) match every matcher between
    starts_at and ends_at are not notified. Expiring sets ends_at to now."""

    __tablename__ = "alert_silences"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    matchers: Mapped[list] = mapped_column(JSONB)  # [{"name", "op": "=" | "!=", "value"}]
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str | None] = mapped_column(String(200))


class AlertNotification(Base):
    """What the engine decided to send; `payload` is notifications.Notification.to_json()."""

    __tablename__ = "alert_notifications"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    group_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    channel_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    payload: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
