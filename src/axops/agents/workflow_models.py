"""Workflow tables: team-owned workflows, their immutable numbered versions (the graph as JSON), runs
and one trace record per node execution (per iteration inside a loop's body)."""

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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin

RUN_STATUSES = ("running", "succeeded", "failed")
NODE_STATUSES = ("ok", "error", "skipped")


class Workflow(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflows"
    name: Mapped[str] = mapped_column(String(200))  # unique per team, case-insensitively
    description: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest version's number: incremented under the row's lock, so numbers have no gaps or duplicates.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("uq_workflows_team_lower_name", "team_id", func.lower(text("name")), unique=True),
        Index("ix_workflows_created_at_id", "created_at", "id"),
    )


class WorkflowVersion(IdMixin, Base):
    """Immutable once written: `definition` is {inputs, nodes, edges, limits} as validated by workflow_schemas."""

    __tablename__ = "workflow_versions"
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSONB)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_id_version"),)


class WorkflowRun(IdMixin, Base):
    __tablename__ = "workflow_runs"
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="running")
    input: Mapped[dict] = mapped_column(JSONB, default=dict)  # PII-masked
    output: Mapped[object | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    error_node: Mapped[str | None] = mapped_column(String(64))
    # {latency_ms, prompt_tokens, completion_tokens, cost, model_calls, tool_calls, nodes}
    totals: Mapped[dict] = mapped_column(JSONB, default=dict)
    # the run's gateway key (runs with model nodes), so the stale-run sweep can revoke it
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        Index("ix_workflow_runs_workflow_id_started_at", "workflow_id", "started_at"),
    )


class WorkflowNodeRun(IdMixin, Base):
    """One node's execution: `iteration` is the loop item's index for nodes in a loop's body (else None)."""

    __tablename__ = "workflow_node_runs"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # the order the engine ran (or skipped) the nodes
    node_id: Mapped[str] = mapped_column(String(64))
    node_type: Mapped[str] = mapped_column(String(16))
    iteration: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    input: Mapped[object | None] = mapped_column(JSONB)  # PII-masked
    output: Mapped[object | None] = mapped_column(JSONB)  # PII-masked, capped
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"status IN {NODE_STATUSES}", name="status"),
        Index("ix_workflow_node_runs_run_id_seq", "run_id", "seq"),
    )
