"""Human review tables (migration 0016): queues of items to annotate, the items (a run's row or a
sampled gateway request, frozen when the queue is made) and one label per item and reviewer.

A pairwise item shows two outputs blind as "1" and "2"; which target each is lives in `blind`
(server-side only: never sent to annotators), and a label's choice is stored as the annotator gave
it ("1"/"2"/"tie") and mapped to targets when agreement or exports are computed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin

SOURCES = ("run", "traffic")
MODES = ("likert", "pairwise")
QUEUE_STATUSES = ("open", "closed")
CHOICES = ("1", "2", "tie")
COMMENT_MAX = 2000


class ReviewQueue(IdMixin, Base):
    __tablename__ = "review_queues"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("eval_runs.id", ondelete="SET NULL"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    # [{"name", "description", "scale"}]; pairwise queues use the names only (one choice per criterion).
    criteria: Mapped[list] = mapped_column(JSONB, default=list)
    # Who may annotate; empty = any team member with eval:review.
    assignees: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    # What the queue was made from ({"sample": ..., "targets": [...], ...}), for the record.
    origin: Mapped[dict] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_review_queues_team_id_name"),
        CheckConstraint(f"source IN {SOURCES}", name="source"),
        CheckConstraint(f"mode IN {MODES}", name="mode"),
        CheckConstraint(f"status IN {QUEUE_STATUSES}", name="status"),
    )


class ReviewItem(IdMixin, Base):
    __tablename__ = "review_items"
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    source_ref: Mapped[dict] = mapped_column(JSONB)  # {"run_id", "row_index"} or {"usage_record_id"}
    # {"input", "reference": [..], "context", "outputs": {"1": text} or {"1": a, "2": b}}
    payload: Mapped[dict] = mapped_column(JSONB)
    # Pairwise only: {"1": target key, "2": target key}. Never sent to annotators.
    blind: Mapped[dict | None] = mapped_column(JSONB)

    __table_args__ = (UniqueConstraint("queue_id", "position", name="uq_review_items_queue_id_position"),)


class ReviewLabel(IdMixin, Base):
    __tablename__ = "review_labels"
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scores: Mapped[dict] = mapped_column(JSONB, default=dict)  # {criterion: int}
    # Pairwise: {criterion: "1"|"2"|"tie"} as the annotator chose on screen.
    choices: Mapped[dict] = mapped_column(JSONB, default=dict)
    comment: Mapped[str] = mapped_column(String(COMMENT_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )

    __table_args__ = (UniqueConstraint("item_id", "reviewer_id", name="uq_review_labels_item_id_reviewer_id"),)
