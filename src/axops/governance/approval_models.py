"""Approval requests (migration 0029): a production promotion, a production deployment or access to a
model or route, asked for by one person and approved or rejected by another (four-eyes).

Targets are kept by id with a name snapshot and no foreign key: a refused promotion writes its request
in a transaction of its own while the refused request's transaction may hold the model's rows, and a
request outlives the model it named (the history stays readable)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

KINDS = ("promote", "deploy", "access", "canary", "scale")  # canary, scale: migration 0032
STATUSES = ("pending", "approved", "rejected", "cancelled", "used")
TARGET_TYPES = ("model", "route", "deployment")
ACCESS_ACTIONS = ("call", "deploy", "download")


class ApprovalRequest(IdMixin, TimestampMixin, Base):
    __tablename__ = "approval_requests"
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # the team whose deciders see the request: the model's (or route's) owning team
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # a model's id; none for a route
    target_name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(16))  # access requests: call, deploy or download
    requester_team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # an approval's end
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"target_type IN {TARGET_TYPES}", name="target_type"),
        # one open request per person and thing asked for: a refused retry reuses it
        Index(
            "uq_approval_requests_pending",
            "kind",
            "target_type",
            "target_name",
            text("coalesce(version_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            text("coalesce(action, '')"),
            "requested_by",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_approval_requests_status_created", "status", "created_at"),
    )
