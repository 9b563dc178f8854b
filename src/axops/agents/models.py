"""Agent tables: agents, their immutable numbered versions, runs (the trace's head), steps (the trace)
and the approvals a run waits for.

Run input/output, step input/output and approval arguments are PII-masked (`pii.redact`, as the
gateway's request log) before they are stored. What a paused run needs to resume (the conversation
with the model, unmasked, and the run key's secret) is kept encrypted with the installation's secret
key only while the run is `waiting_approval`, and cleared when the run ends."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
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

RUN_STATUSES = ("running", "waiting_approval", "succeeded", "failed", "limit_reached", "cancelled")
ACTIVE_STATUSES = ("running", "waiting_approval")
STEP_KINDS = ("model", "tool", "approval", "answer", "error")
APPROVAL_STATUSES = ("pending", "approved", "rejected")


class Agent(IdMixin, TimestampMixin, Base):
    __tablename__ = "agents"
    name: Mapped[str] = mapped_column(String(200))  # unique across teams (case-insensitively): `/v1` names `agent:NAME`
    description: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    visibility: Mapped[str] = mapped_column(String(16), default="team")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("visibility IN ('team', 'organization')", name="visibility"),
        Index("uq_agents_lower_name", func.lower(text("name")), unique=True),
        Index("ix_agents_team_id", "team_id"),
        Index("ix_agents_created_at_id", "created_at", "id"),
    )


class AgentVersion(IdMixin, Base):
    """Immutable. `system_prompt` text or `prompt_ref` {name, version | label} (resolved at run start);
    `limits` {max_steps, max_tokens, max_cost, max_seconds}; `params` {temperature, max_tokens}."""

    __tablename__ = "agent_versions"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    prompt_ref: Mapped[dict | None] = mapped_column(JSONB)
    tool_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    limits: Mapped[dict] = mapped_column(JSONB, default=dict)
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("agent_id", "version", name="uq_agent_versions_agent_id_version"),)


class AgentRun(IdMixin, Base):
    __tablename__ = "agent_runs"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    stop_reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | v1 | workflow
    input: Mapped[list] = mapped_column(JSONB, default=list)  # messages, masked
    output: Mapped[str | None] = mapped_column(Text)  # masked
    steps: Mapped[int] = mapped_column(Integer, default=0)  # model calls
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    conversation: Mapped[str | None] = mapped_column(Text)  # encrypted, only while waiting_approval
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    api_key_secret: Mapped[str | None] = mapped_column(Text)  # encrypted, only while the run is active
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the distinct task keywords of the masked user input, set when the run ends (NULL: not analysed yet)
    keywords: Mapped[list[str] | None] = mapped_column(ARRAY(Text))

    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        Index("ix_agent_runs_agent_id_created_at", "agent_id", "created_at"),
        Index("ix_agent_runs_team_id_created_at", "team_id", "created_at"),
    )


class AgentStep(IdMixin, Base):
    __tablename__ = "agent_steps"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    tool_call_id: Mapped[str | None] = mapped_column(String(200))
    parallel_group: Mapped[int | None] = mapped_column(Integer)  # the model step whose answer asked for the call
    input: Mapped[dict | list | str | None] = mapped_column(JSONB)
    output: Mapped[dict | list | str | None] = mapped_column(JSONB)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint(f"kind IN {STEP_KINDS}", name="kind"),
        UniqueConstraint("run_id", "index", name="uq_agent_steps_run_id_index"),
    )


class AgentApproval(IdMixin, Base):
    __tablename__ = "agent_approvals"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    tool_call_id: Mapped[str] = mapped_column(String(200))
    tool_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    tool_name: Mapped[str] = mapped_column(String(200), default="")
    arguments: Mapped[dict | list | str | None] = mapped_column(JSONB)  # masked
    status: Mapped[str] = mapped_column(String(16), default="pending")
    comment: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint(f"status IN {APPROVAL_STATUSES}", name="status"),
        Index("ix_agent_approvals_run_id", "run_id"),
    )
