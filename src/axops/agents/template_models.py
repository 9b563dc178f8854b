"""Agent templates shared by teams (the built-in ones are YAML files in `templates/`, never rows) and
every install of a template, built-in or shared (the gallery's install counts)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin, TimestampMixin


class AgentTemplate(IdMixin, TimestampMixin, Base):
    """`spec` is what an install creates: {agent: {system_prompt, limits, params}, tools: [{name, kind,
    description, parameters, spec, timeout_s, requires_approval, allow_hosts, uses_dataset}]}. No
    credential and no dataset is ever copied into it."""

    __tablename__ = "agent_templates"
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    spec: Mapped[dict] = mapped_column(JSONB)
    source_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    source_version: Mapped[int | None] = mapped_column()
    shared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_agent_templates_created_at_id", "created_at", "id"),)


class AgentTemplateInstall(IdMixin, Base):
    __tablename__ = "agent_template_installs"
    template_key: Mapped[str] = mapped_column(String(64))  # a built-in's id, or a shared template's UUID
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the agent may be deleted later
    installed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (Index("ix_agent_template_installs_template_key", "template_key"),)
