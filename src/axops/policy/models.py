"""Access policies (who may call, deploy or download which model or route) and external-transfer
settings per team or API key."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

SUBJECT_TYPES = ("team", "role", "everyone")
ACTIONS = ("call", "deploy", "download")
EFFECTS = ("allow", "deny")
TRANSFER = ("allowed", "forbidden")


class AccessRule(IdMixin, TimestampMixin, Base):
    """subject × action × resource → effect. `subject` holds the team id (as text) or the role name;
    it is empty for everyone. `resource` is a model name, a route name or `*`."""

    __tablename__ = "access_policies"
    subject_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(300))
    effect: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint(f"subject_type IN {SUBJECT_TYPES}", name="subject_type"),
        CheckConstraint(f"action IN {ACTIONS}", name="action"),
        CheckConstraint(f"effect IN {EFFECTS}", name="effect"),
    )


class TransferRule(IdMixin, TimestampMixin, Base):
    """Whether a team's or an API key's requests may go to an external provider."""

    __tablename__ = "transfer_policies"
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), unique=True
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("api_keys.id", ondelete="CASCADE"), unique=True
    )
    external: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint(f"external IN {TRANSFER}", name="external"),
        CheckConstraint("(team_id IS NULL) <> (api_key_id IS NULL)", name="one_subject"),
    )
