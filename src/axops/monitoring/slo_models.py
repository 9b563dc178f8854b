"""Service level objectives (migration 0021): an availability or success-rate objective on one gateway
route (or a deployment, through its route), over a rolling 30 days or the calendar month. Attainment,
error budget and burn rates are computed by query (slos.py), never stored."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

KINDS = ("availability", "success")
WINDOWS = ("rolling_30d", "calendar_month")


class Slo(IdMixin, TimestampMixin, Base):
    __tablename__ = "slos"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[str] = mapped_column(String(200), index=True)  # the gateway route's public model name
    # set when the SLO was made for a deployment: its route is the deployment's name
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[float] = mapped_column(Float)  # percent, e.g. 99.5
    window: Mapped[str] = mapped_column("time_window", String(16), default="rolling_30d")  # WINDOW is reserved in SQL
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_slos_team_id_name"),
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint(f"time_window IN {WINDOWS}", name="time_window"),
        CheckConstraint("target > 0 AND target < 100", name="target"),
    )
