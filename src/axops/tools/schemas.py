"""Request and response models of the tool registry (`/api/tool/...`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# OpenAI's rule for function names: the model calls a tool by this name.
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN, description="Letters, digits, '_' and '-' (at most 64)")]
Kind = Literal["http", "mcp", "python"]
Host = Annotated[str, Field(min_length=1, max_length=260, pattern=r"^[A-Za-z0-9.\-\[\]:]+$")]
Credential = Annotated[str, Field(min_length=1, max_length=8192)]
MAX_DOCUMENT_CHARS = 2 * 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCreate(Strict):
    name: ToolName
    kind: Kind
    description: str = Field("", max_length=8000)
    team_id: uuid.UUID | None = None
    requires_approval: bool = False
    timeout_s: float = Field(30.0, gt=0, le=600)
    cost_per_call: float = Field(0.0, ge=0, le=1_000_000, description="The tool's own price per call (e.g. a paid API)")
    allow_hosts: list[Host] = Field(
        default_factory=list,
        max_length=50,
        description="Hosts (or host:port) the tool may reach; HTTP tools default to their base URL's host. "
        "Private and loopback addresses are reached only when named here.",
    )
    credential: Credential | None = Field(None, description="Stored encrypted; never returned")
    mcp_server_id: uuid.UUID | None = None
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}, description="A JSON schema of type object"
    )
    spec: dict[str, Any] = Field(
        description="http: {method, base_url, path, params: {name: {in: path|query|header|body|body_raw}}, "
        "auth: {type: none|bearer|header|query, name}}; python: {source, function}; mcp: {tool_name}"
    )


class ToolUpdate(Strict):
    description: str | None = Field(None, max_length=8000)
    requires_approval: bool | None = None
    timeout_s: float | None = Field(None, gt=0, le=600)
    cost_per_call: float | None = Field(None, ge=0, le=1_000_000)
    allow_hosts: list[Host] | None = Field(None, max_length=50)
    credential: Credential | None = Field(None, description="A new credential (stored encrypted)")
    clear_credential: bool = False


class ToolVersionIn(Strict):
    parameters: dict[str, Any]
    spec: dict[str, Any]


class ToolVersionOut(BaseModel):
    tool_id: uuid.UUID
    version: int
    parameters: dict[str, Any]
    spec: dict[str, Any]
    created_by: uuid.UUID | None
    created_at: datetime


class ToolOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    kind: Kind
    description: str
    latest_version: int
    requires_approval: bool
    timeout_s: float
    cost_per_call: float = 0.0
    allow_hosts: list[str]
    has_credential: bool
    mcp_server_id: uuid.UUID | None
    visibility: str
    created_by: uuid.UUID | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    current: ToolVersionOut | None = None


class ToolPage(BaseModel):
    items: list[ToolOut]
    next_cursor: str | None = None
    total: int | None = None


class ToolVersionPage(BaseModel):
    items: list[ToolVersionOut]


class ImportAuth(Strict):
    type: Literal["none", "bearer", "header", "query"]
    name: str | None = Field(None, max_length=200, description="The header or query parameter carrying the credential")


class OpenApiImportIn(Strict):
    document: dict[str, Any] | Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)] = Field(
        description="An OpenAPI 3 document, as an object or as JSON/YAML text (remote $refs are never fetched)"
    )
    team_id: uuid.UUID | None = None
    base_url: str | None = Field(None, max_length=2000, description="Instead of the document's servers[0].url")
    credential: Credential | None = None
    auth: ImportAuth | None = Field(None, description="Instead of the document's security schemes")
    allow_hosts: list[Host] | None = Field(None, max_length=50)
    prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,20}$", description="Prepended to every tool's name")
    timeout_s: float = Field(30.0, gt=0, le=600)
    requires_approval: bool = False


class ToolTestIn(Strict):
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolOutcomeOut(BaseModel):
    ok: bool
    output: Any = None
    error: str | None = None
    error_kind: str | None = None
    latency_ms: float = 0.0
    detail: dict[str, Any] | None = None


class ToolStats(BaseModel):
    tool_id: uuid.UUID
    name: str
    kind: str
    team_id: uuid.UUID
    calls: int
    ok: int
    success_rate: float
    p50_ms: float | None
    p95_ms: float | None
    cost: float = Field(description="The tool's own price over its calls")
    model_cost: float = Field(
        description="Model cost attributed to the tool: each asking model step's cost split evenly among its calls"
    )
    total_cost: float = Field(description="cost + model_cost")
    cost_share: float = Field(description="This tool's part of the total cost of every tool in the answer (0..1)")
    error_kinds: dict[str, int]


class AgentToolStats(BaseModel):
    """One cell of the agent × tool matrix: an agent's runs calling a tool."""

    agent_id: uuid.UUID
    agent_name: str
    tool_id: uuid.UUID
    tool_name: str
    calls: int
    ok: int
    success_rate: float


class Keyword(BaseModel):
    word: str
    count: int


class ToolKeywords(BaseModel):
    tool_id: uuid.UUID
    runs: int = Field(description="The agent runs read: those behind the tool's latest 500 agent calls")
    keywords: list[Keyword]


class ToolAnalytics(BaseModel):
    days: int
    calls: int
    total_cost: float = 0.0
    items: list[ToolStats]
    agents: list[AgentToolStats] = Field(default_factory=list)
    keywords: list[ToolKeywords] = Field(default_factory=list)


class ToolCallOut(BaseModel):
    id: uuid.UUID
    version: int
    status: str = Field(description="ok or error")
    error_kind: str | None
    latency_ms: float
    cost: float
    agent_run_id: uuid.UUID | None = Field(description="The agent run that made the call; none for a test run")
    caller_id: uuid.UUID | None
    caller_name: str | None = Field(description="The caller's username")
    created_at: datetime


class ToolCallPage(BaseModel):
    items: list[ToolCallOut]
    next_cursor: str | None = None
