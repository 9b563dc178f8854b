"""Request and response models of workflows. A definition's shape is checked here; what needs the
whole graph (dangling edges, cycles, loop bodies, templates) is checked in workflow_graph.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from axops.registry.schemas import ModelName

MAX_NODES = 200
MAX_EDGES = 1000
MAX_INPUTS = 50
MAX_LOOP_ITEMS = 100
NODE_TYPES = ("input", "model", "tool", "condition", "loop", "output")
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="A letter, then letters, digits, _")]
InputType = Literal["string", "number", "integer", "boolean", "list", "object"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowInput(Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    type: InputType = "string"
    required: bool = True


class Position(Strict):
    x: float = 0.0
    y: float = 0.0


class Node(Strict):
    id: NodeId
    type: Literal["input", "model", "tool", "condition", "loop", "output"]
    label: str = Field("", max_length=200)
    position: Position = Field(default_factory=Position)
    config: dict[str, Any] = Field(default_factory=dict, description="Depends on the type: see the *Config models")


class Edge(Strict):
    id: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=64)
    source_handle: Literal["true", "false", "body"] | None = Field(
        None, description="A condition's 'true' / 'false' branch; a loop's 'body' (none: after the loop)"
    )


class Limits(Strict):
    max_seconds: float = Field(60.0, gt=0, le=600)
    max_cost: float | None = Field(None, ge=0)
    max_model_calls: int = Field(50, ge=1, le=1000)


class Definition(Strict):
    inputs: list[WorkflowInput] = Field(default_factory=list, max_length=MAX_INPUTS)
    nodes: list[Node] = Field(max_length=MAX_NODES)
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_EDGES)
    limits: Limits = Field(default_factory=Limits)


# --- node configs (validated per node, so an error names the node) ---------------------------


class Message(Strict):
    role: Literal["system", "user", "assistant", "developer"]
    content: str = Field(max_length=50_000, description="A template over the run's state")


class PromptSelector(Strict):
    name: str = Field(min_length=1, max_length=200)
    version: int | None = Field(None, ge=1)
    label: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,63}$")


class ModelConfig(Strict):
    prompt: PromptSelector | None = None
    variables: dict[str, Any] = Field(default_factory=dict, description="Prompt variable → template over state")
    route: str | None = Field(None, min_length=1, max_length=200, description="Else the prompt's bound route")
    messages: list[Message] | None = Field(None, min_length=1, max_length=50)
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens ...")


class ToolConfig(Strict):
    tool_id: uuid.UUID
    arguments: dict[str, Any] = Field(default_factory=dict, description="Values may be templates over state")


class ConditionConfig(Strict):
    expression: str = Field(min_length=1, max_length=2000, description="A Jinja expression over state")


class LoopConfig(Strict):
    items: str = Field(min_length=1, max_length=2000, description="A Jinja expression giving a list")
    max_items: int = Field(MAX_LOOP_ITEMS, ge=1, le=MAX_LOOP_ITEMS)


class OutputConfig(Strict):
    template: str = Field(min_length=1, max_length=50_000, description="'{{ expr }}' alone keeps the value's type")


class InputConfig(Strict):
    pass


CONFIGS: dict[str, type[Strict]] = {
    "input": InputConfig,
    "model": ModelConfig,
    "tool": ToolConfig,
    "condition": ConditionConfig,
    "loop": LoopConfig,
    "output": OutputConfig,
}

# --- requests --------------------------------------------------------------------------------


class WorkflowVersionIn(Strict):
    definition: Definition
    message: str = Field("", max_length=2000)


class WorkflowCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=5000)
    team_id: uuid.UUID | None = None
    version: WorkflowVersionIn | None = Field(None, description="The first version")


class WorkflowRunIn(Strict):
    input: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(None, ge=1, description="Default: the latest version")


# --- responses -------------------------------------------------------------------------------


class WorkflowOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    team_id: uuid.UUID
    created_by: uuid.UUID | None
    latest_version: int
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_run_status: Literal["running", "succeeded", "failed"] | None = Field(None, description="The newest run's")
    last_run_at: datetime | None = Field(None, description="When the newest run started")


class WorkflowPage(BaseModel):
    items: list[WorkflowOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="How many match in all: on the first page (no cursor) only")


class WorkflowVersionOut(BaseModel):
    workflow_id: uuid.UUID
    version: int
    definition: Definition
    message: str
    created_by: uuid.UUID | None
    created_at: datetime


class WorkflowVersionPage(BaseModel):
    items: list[WorkflowVersionOut]


class NodeRunOut(BaseModel):
    seq: int
    node_id: str
    node_type: str
    iteration: int | None
    status: Literal["ok", "error", "skipped"]
    input: Any = None
    output: Any = None
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost: float
    error: str | None


class RunTotals(BaseModel):
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    model_calls: int = 0
    tool_calls: int = 0
    nodes: int = 0


class WorkflowRunOut(BaseModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    team_id: uuid.UUID
    created_by: uuid.UUID | None
    status: Literal["running", "succeeded", "failed"]
    input: dict[str, Any]
    output: Any = None
    error: str | None
    error_node: str | None
    totals: RunTotals
    started_at: datetime
    finished_at: datetime | None
    nodes: list[NodeRunOut] = Field(default_factory=list)


class WorkflowRunPage(BaseModel):
    items: list[WorkflowRunOut] = Field(description="Newest first, without their node traces")
    next_cursor: str | None = None
