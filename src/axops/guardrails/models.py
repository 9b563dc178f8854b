"""Guardrail policies (which checks run on which route, team or key) and the decisions they made."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

SCOPES = ("global", "route", "team", "key")
DIRECTIONS = ("input", "output", "both")
ACTIONS = ("allow", "mask", "block")


class GuardrailPolicy(IdMixin, TimestampMixin, Base):
    """A set of checks applied to requests (input), answers (output) or both, for one route, team,
    API key, or everyone (global). `checks` is the validated `schemas.Checks` as JSON."""

    __tablename__ = "guardrail_policies"
    __table_args__ = (
        CheckConstraint("scope IN ('global', 'route', 'team', 'key')", name="ck_guardrail_policies_scope"),
        CheckConstraint("direction IN ('input', 'output', 'both')", name="ck_guardrail_policies_direction"),
        CheckConstraint("(scope = 'global') = (target_id IS NULL)", name="ck_guardrail_policies_target"),
    )
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    scope: Mapped[str] = mapped_column(String(8))
    target_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # route, team or key id
    direction: Mapped[str] = mapped_column(String(8), default="both")
    checks: Mapped[dict] = mapped_column(JSONB, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class GuardrailDecision(Base):
    """A check that masked or blocked a request or an answer. `excerpt` is the text around the hit
    with the hit itself replaced by its kind and any other PII masked: never the raw text."""

    __tablename__ = "guardrail_decisions"
    __table_args__ = (Index("ix_guardrail_decisions_created_at", "created_at"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(64))
    policy_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    policy_name: Mapped[str] = mapped_column(String(100))
    check: Mapped[str] = mapped_column(String(32))
    kinds: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(8))
    direction: Mapped[str] = mapped_column(String(8))
    excerpt: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[str | None] = mapped_column(String(200))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
