"""Request and response models of agent templates (`/api/agent/templates`), and the shape of a built-in
template's YAML file (`TemplateFile`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops.tools.schemas import TOOL_NAME_PATTERN, Host

from .schemas import AGENT_NAME_PATTERN, AgentLimits, AgentParams

Tag = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[\w.+-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateText(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)


class TemplateTool(Strict):
    """A tool an install creates. Python tools give `source` and `function` (or `spec`); HTTP tools a
    `spec`. `uses_dataset`: a Python tool reading the dataset version picked at install (`data.parquet`)."""

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    kind: Literal["python", "http"]
    description: str = Field("", max_length=8000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    spec: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(None, max_length=200_000)
    function: str | None = Field(None, max_length=200)
    timeout_s: float = Field(30.0, gt=0, le=600)
    requires_approval: bool = False
    allow_hosts: list[Host] = Field(default_factory=list, max_length=50)
    uses_dataset: bool = False

    @model_validator(mode="after")
    def _spec(self) -> TemplateTool:
        if self.source is not None or self.function is not None:
            self.spec = {**self.spec, "source": self.source, "function": self.function}
            self.source = self.function = None
        if self.uses_dataset and self.kind != "python":
            raise ValueError("only Python tools read a dataset")
        return self


class TemplateAgent(Strict):
    system_prompt: str = Field(max_length=100_000)
    limits: AgentLimits = Field(default_factory=AgentLimits)
    params: AgentParams = Field(default_factory=AgentParams)


class TemplateFile(Strict):
    """A built-in template (`agents/templates/*.yaml`): names and descriptions in Korean and English."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    name: dict[Literal["ko", "en"], str]
    description: dict[Literal["ko", "en"], str]
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    agent: TemplateAgent
    tools: list[TemplateTool] = Field(default_factory=list, max_length=16)


class TemplatePublish(Strict):
    agent_id: uuid.UUID
    name: str | None = Field(None, min_length=1, max_length=200, description="Default: the agent's name")
    description: str = Field("", max_length=2000)
    tags: list[Tag] = Field(default_factory=list, max_length=10)


class TemplateInstall(Strict):
    team_id: uuid.UUID | None = None
    route: str = Field(min_length=1, max_length=200, description="The gateway model the agent calls")
    dataset_version_id: uuid.UUID | None = Field(
        None, description="Required when a tool of the template reads a dataset"
    )
    name: str | None = Field(None, pattern=AGENT_NAME_PATTERN, description="Default: the template's id or name")
    language: str | None = Field(
        None,
        pattern=r"^[a-z]{2}$",
        description="A built-in's language the agent's description is taken in (the installer's; default en)",
    )


class TemplateToolOut(BaseModel):
    name: str
    kind: str
    description: str
    uses_dataset: bool


class TemplateOut(BaseModel):
    id: str = Field(description="A built-in's id, or a shared template's UUID")
    builtin: bool
    name: str
    description: str
    translations: dict[str, TemplateText] = Field(description="Built-ins: the name and description per language")
    tags: list[str]
    tools: list[TemplateToolOut]
    needs_dataset: bool
    system_prompt: str
    limits: dict
    team_id: uuid.UUID | None = None
    team_name: str | None = None
    shared_by: uuid.UUID | None = None
    shared_by_name: str | None = None
    source_agent_id: uuid.UUID | None = None
    install_count: int = 0
    created_at: datetime | None = None


class TemplatePage(BaseModel):
    items: list[TemplateOut]
    total: int


class InstalledTool(BaseModel):
    id: uuid.UUID
    name: str


class TemplateInstallOut(BaseModel):
    template_id: str
    agent_id: uuid.UUID
    agent_name: str
    team_id: uuid.UUID
    tools: list[InstalledTool]
