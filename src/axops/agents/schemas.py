"""Request and response models of agents and their runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
Visibility = Literal["team", "organization"]


class AgentLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_steps: int = Field(10, ge=1, le=100)
    max_tokens: int | None = Field(None, ge=1, le=10_000_000)
    max_cost: float | None = Field(None, gt=0, le=1_000_000)
    max_seconds: float = Field(120, gt=0, le=3600)


class AgentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)


class PromptRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    version: int | None = Field(None, ge=1)
    label: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> PromptRef:
        if self.version is not None and self.label is not None:
            raise ValueError("name a version or a label, not both")
        return self


class AgentVersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(min_length=1, max_length=200, description="A gateway model name")
    system_prompt: str | None = Field(None, max_length=100_000)
    prompt: PromptRef | None = Field(None, description="A saved prompt, resolved when a run starts")
    tool_ids: list[uuid.UUID] = Field(default_factory=list, max_length=64)
    limits: AgentLimits = Field(default_factory=AgentLimits)
    params: AgentParams = Field(default_factory=AgentParams)
    message: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _prompt(self) -> AgentVersionIn:
        if self.system_prompt is not None and self.prompt is not None:
            raise ValueError("give system_prompt or prompt, not both")
        return self


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=AGENT_NAME_PATTERN)
    description: str = Field("", max_length=2000)
    team_id: uuid.UUID | None = None
    visibility: Visibility = "team"
    version: AgentVersionIn


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, max_length=2000)
    visibility: Visibility | None = None
    archived: bool | None = None


class AgentVersionOut(BaseModel):
    version: int
    route: str
    system_prompt: str | None
    prompt: dict | None
    tool_ids: list[uuid.UUID]
    limits: dict
    params: dict
    message: str
    created_at: datetime


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    team_id: uuid.UUID
    visibility: str
    latest_version: int
    archived: bool
    created_at: datetime
    updated_at: datetime
    current: AgentVersionOut | None = None


class AgentPage(BaseModel):
    items: list[AgentOut]
    next_cursor: str | None = None


class AgentVersionPage(BaseModel):
    items: list[AgentVersionOut]


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class AgentRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str | list[ChatMessageIn] = Field(description="A user message, or chat messages")
    stream: bool = False
    version: int | None = Field(None, ge=1, description="Default: the latest version")

    @model_validator(mode="after")
    def _not_empty(self) -> AgentRunCreate:
        if isinstance(self.input, str) and not self.input.strip():
            raise ValueError("input is empty")
        if isinstance(self.input, list) and not self.input:
            raise ValueError("input has no messages")
        return self


class AgentStepOut(BaseModel):
    index: int
    kind: str
    name: str | None
    tool_call_id: str | None
    parallel_group: int | None
    input: Any = None
    output: Any = None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    error: str | None
    error_kind: str | None
    started_at: datetime


class AgentApprovalOut(BaseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    tool_call_id: str
    tool_id: uuid.UUID
    tool_name: str
    arguments: Any = None
    status: str
    comment: str | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime


class AgentRunOut(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str
    version: int
    team_id: uuid.UUID
    created_by: uuid.UUID | None
    status: str
    stop_reason: str | None
    source: str
    input: list
    output: str | None
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    created_at: datetime
    finished_at: datetime | None


class AgentRunDetail(AgentRunOut):
    trace: list[AgentStepOut]
    approvals: list[AgentApprovalOut]


class AgentRunPage(BaseModel):
    items: list[AgentRunOut]
    next_cursor: str | None = None


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    comment: str = Field("", max_length=2000)
