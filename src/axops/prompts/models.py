"""Prompt tables: prompts, their immutable numbered versions, movable labels and every label move,
A/B experiments on a label, and feedback on gateway requests."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

KINDS = ("text", "chat")
EXPERIMENT_STATUSES = ("running", "stopped", "promoted")
METRICS = ("feedback", "error_rate", "latency")


class Prompt(IdMixin, TimestampMixin, Base):
    __tablename__ = "prompts"
    name: Mapped[str] = mapped_column(String(200))  # unique across teams (case-insensitively): `/v1` callers name it
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    visibility: Mapped[str] = mapped_column(String(16), default="team")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest version's number: incremented under the row's lock, so numbers have no gaps or duplicates.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("visibility IN ('team', 'organization')", name="visibility"),
        Index("uq_prompts_lower_name", func.lower(text("name")), unique=True),
        Index("ix_prompts_team_id", "team_id"),
        Index("ix_prompts_tags", "tags", postgresql_using="gin"),
        Index("ix_prompts_created_at_id", "created_at", "id"),
    )


class PromptVersion(IdMixin, Base):
    """Immutable once written. `template` is a string (kind text) or a list of {role, content} (kind chat);
    `variables` a list of {name, type, required, default, description}; `binding` {route, allowed_routes,
    parameters}."""

    __tablename__ = "prompt_versions"
    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    template: Mapped[str | list] = mapped_column(JSONB)
    variables: Mapped[list] = mapped_column(JSONB, default=list)
    binding: Mapped[dict] = mapped_column(JSONB, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_id_version"),
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
    )


class PromptLabel(Base):
    """A movable name (`production`, `staging`, custom) pointing at one version of a prompt."""

    __tablename__ = "prompt_labels"
    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class PromptLabelMove(IdMixin, Base):
    """Every move of a label, kept: from which version to which (None: set for the first time / removed)."""

    __tablename__ = "prompt_label_moves"
    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (Index("ix_prompt_label_moves_prompt_id_created_at", "prompt_id", "created_at"),)


class PromptExperiment(IdMixin, TimestampMixin, Base):
    """An A/B test on a label: while running, callers of `name@label` are split between `variants`
    ([{version, weight}], the first is the control "A") sticky per caller."""

    __tablename__ = "prompt_experiments"
    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    variants: Mapped[list] = mapped_column(JSONB)
    metric: Mapped[str] = mapped_column(String(16), default="feedback")
    max_duration_s: Mapped[int | None] = mapped_column(Integer)
    max_samples: Mapped[int | None] = mapped_column(Integer)
    auto_promote: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(Text)
    winner_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(f"status IN {EXPERIMENT_STATUSES}", name="status"),
        CheckConstraint(f"metric IN {METRICS}", name="metric"),
        Index(
            "uq_prompt_experiments_running_label",
            "prompt_id",
            "label",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
    )


class RequestFeedback(IdMixin, Base):
    """A score on one gateway request (its `x-request-id`), given by whoever made the request."""

    __tablename__ = "request_feedback"
    request_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), default="user")
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("request_id", "name", name="uq_request_feedback_request_id_name"),)
