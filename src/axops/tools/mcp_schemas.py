"""Request and response models of MCP servers (`/api/tool/mcp-servers`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from axops.tools.mcp import check_url

ServerName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Letters, digits, '_' and '-'; prefixes its tools' names")
]


class McpServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ServerName
    transport: Literal["http", "stdio"]
    url: str | None = Field(None, max_length=2000, description="http: the streamable-HTTP endpoint")
    headers: dict[str, Annotated[str, Field(max_length=8192)]] = Field(
        default_factory=dict,
        max_length=20,
        description="http: sent with every request; stored encrypted, never returned",
    )
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list,
        max_length=64,
        description="stdio (admins only): the program and its arguments, run in the sandbox; `python` is axops's "
        "interpreter; absolute file paths named are bound read-only",
    )
    team_id: uuid.UUID | None = None

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not key or len(key) > 200 or not key.isascii() or any(c in key for c in " :\r\n\t"):
                raise ValueError("header names are ASCII tokens")
            if any(c in item for c in "\r\n"):
                raise ValueError("header values are single lines")
        return value

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerCreate:
        if self.transport == "http":
            problem = check_url(self.url or "")
            if problem:
                raise ValueError(problem)
            if self.command:
                raise ValueError("command is for stdio servers")
        else:
            if not self.command:
                raise ValueError("a stdio server needs its command")
            if self.url or self.headers:
                raise ValueError("url and headers are for http servers")
        return self


class DiscoveredTool(BaseModel):
    name: str
    description: str = ""
    input_schema: dict[str, Any]


class McpServerOut(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    transport: str
    url: str | None
    command: list[str]
    header_names: list[str] = Field(description="The headers' names; their values are never returned")
    tools: list[DiscoveredTool]
    tool_ids: dict[str, uuid.UUID] = Field(description="The registry's tool of each discovered tool, by MCP name")
    status: str = Field(description="new | ready | unavailable")
    last_error: str | None
    discovered_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class McpServerPage(BaseModel):
    items: list[McpServerOut]
