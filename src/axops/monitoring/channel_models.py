"""Alert delivery tables (migration 0020): where a rule's notifications go (`alert_channels`) and each
notification's delivery to each channel (`alert_deliveries`, with its retries)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin
from axops.monitoring import alert_models  # noqa: F401  (alert_notifications, which deliveries refer to)

CHANNEL_KINDS = ("slack", "email", "webhook", "alertmanager")
DELIVERY_STATUSES = ("pending", "sent", "failed")


class AlertChannel(IdMixin, TimestampMixin, Base):
    """A receiver of notifications. `config` holds what may be shown (addresses, the SMTP host, a
    Slack URL's masked hint); `secret` the rest as one encrypted JSON object (core.crypto): the Slack
    webhook URL, the SMTP password, the webhook's signing key. Neither the secret nor anything derived
    from it beyond a hint leaves the server."""

    __tablename__ = "alert_channels"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16), default="team")  # organization: any team's rules may use it
    config: Mapped[dict] = mapped_column(JSONB, default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_alert_channels_team_id_name"),
        CheckConstraint("kind IN ('slack', 'email', 'webhook', 'alertmanager')", name="kind"),
        CheckConstraint("visibility IN ('team', 'organization')", name="visibility"),
    )


class AlertDelivery(IdMixin, TimestampMixin, Base):
    """One notification to one channel. `attempts` counts sends; a failed send is retried at
    `next_attempt_at` (delivery.BACKOFF) until `status` is sent or failed. `last_error` is written by
    the server from the outcome with the channel's secrets removed."""

    __tablename__ = "alert_deliveries"
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("alert_notifications.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))  # the channel's team
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("notification_id", "channel_id", name="uq_alert_deliveries_notification_id_channel_id"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_alert_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_alert_deliveries_created_at", "created_at"),
    )
