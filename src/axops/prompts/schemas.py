"""Request and response models of the prompt registry (the YAML import reuses the request models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops import templating
from axops.prompts.refs import LABEL_PATTERN
from axops.registry.schemas import ModelName

Kind = Literal["text", "chat"]
Role = Literal["system", "user", "assistant", "developer"]
VariableType = Literal["string", "number", "integer", "boolean", "list", "object"]
Visibility = Literal["team", "organization"]
Label = Annotated[str, Field(pattern=LABEL_PATTERN, description="Lowercase letters, digits, '_' and '-'")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
RouteName = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptMessage(Strict):
    role: Role
    content: str


class PromptVariable(Strict):
    name: str = Field(pattern=templating.VARIABLE_NAME.pattern)
    type: VariableType = "string"
    required: bool = True
    default: Any = None
    description: str = Field("", max_length=2000)


class PromptParameters(Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stop: str | list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=4)
    seed: int | None = None


class PromptBinding(Strict):
    route: RouteName | None = Field(None, description="The gateway route used when the caller names no model")
    allowed_routes: list[RouteName] = Field(default_factory=list, max_length=50, description="Empty: any route")
    parameters: PromptParameters = Field(default_factory=PromptParameters, description="Used when the caller sets none")


class PromptVersionIn(Strict):
    kind: Kind = "text"
    template: str | list[PromptMessage] = Field(
        description="A string (kind text) or chat messages; Jinja2 in a sandbox, variables as {{ name }}"
    )
    variables: list[PromptVariable] = Field(default_factory=list, max_length=templating.MAX_VARIABLES)
    binding: PromptBinding = Field(default_factory=PromptBinding)
    message: str = Field("", max_length=2000, description="The commit message")


class PromptVersionCreate(PromptVersionIn):
    labels: list[Label] = Field(default_factory=list, max_length=20, description="Labels to point at the new version")


class PromptCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    team_id: uuid.UUID | None = None
    visibility: Visibility = "team"
    version: PromptVersionIn | None = Field(None, description="The first version, if any")
    labels: list[Label] = Field(default_factory=list, max_length=20, description="Labels for the first version")

    @model_validator(mode="after")
    def _labels_need_a_version(self) -> PromptCreate:
        if self.labels and self.version is None:
            raise ValueError("labels point at a version: give the first version too")
        return self


class PromptUpdate(Strict):
    description: str | None = Field(None, max_length=10_000)
    tags: list[Tag] | None = Field(None, max_length=50)
    visibility: Visibility | None = None


class PromptLabelSet(Strict):
    version: int = Field(ge=1)
    reason: str = Field("", max_length=2000)


class PromptDraft(Strict):
    kind: Kind = "text"
    template: str | list[PromptMessage]
    variables: list[PromptVariable] = Field(default_factory=list, max_length=templating.MAX_VARIABLES)


class PromptRenderIn(Strict):
    ref: str | None = Field(
        None, max_length=100, description="A label ('production', '@staging') or version ('3'); default: the name's"
    )
    variables: dict[str, Any] = Field(default_factory=dict)
    draft: PromptDraft | None = Field(None, description="Render this unsaved template instead of a version")


class PromptCheckVariable(Strict):
    """A declaration as the editor holds it while someone types: a bad name or type is reported by the
    check (`ok: false`), not refused as a request."""

    name: str = Field(max_length=100)
    type: str = Field("string", max_length=20)
    required: bool = True
    default: Any = None
    description: str = Field("", max_length=2000)


class PromptCheckIn(Strict):
    kind: Kind = "text"
    template: str | list[PromptMessage]
    variables: list[PromptCheckVariable] = Field(default_factory=list, max_length=templating.MAX_VARIABLES)


class PromptQuality(BaseModel):
    feedback_count: int = 0
    feedback_mean: float | None = None


class PromptOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    tags: list[str]
    team_id: uuid.UUID
    team_name: str | None
    visibility: str
    latest_version: int
    labels: dict[str, int] = Field(description="label → version number")
    created_by_name: str | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    running_experiments: int = 0


class PromptPage(BaseModel):
    items: list[PromptOut]
    next_cursor: str | None = None
    total: int | None = Field(None, description="How many prompts match in all: on the first page (no cursor) only")


class PromptVersionOut(BaseModel):
    id: uuid.UUID
    prompt_name: str
    version: int
    kind: Kind
    template: str | list[PromptMessage]
    variables: list[PromptVariable]
    binding: PromptBinding
    message: str
    created_by_name: str | None
    created_at: datetime
    labels: list[str] = Field(description="Labels pointing at this version")
    quality: PromptQuality = Field(default_factory=PromptQuality)


class PromptVersionPage(BaseModel):
    items: list[PromptVersionOut]
    next_cursor: str | None = None
    total: int | None = None


class PromptLabelOut(BaseModel):
    label: str
    version: int
    updated_at: datetime
    updated_by_name: str | None


class PromptLabelMoveOut(BaseModel):
    label: str
    from_version: int | None
    to_version: int | None
    reason: str
    actor_name: str | None
    created_at: datetime


class PromptLabelHistory(BaseModel):
    items: list[PromptLabelMoveOut]


class PromptDiffLine(BaseModel):
    op: Literal[" ", "+", "-"]
    text: str
    message_index: int | None = None


class PromptVariableChange(BaseModel):
    name: str
    before: PromptVariable
    after: PromptVariable


class PromptVariablesDiff(BaseModel):
    added: list[PromptVariable]
    removed: list[PromptVariable]
    changed: list[PromptVariableChange]


class PromptBindingChange(BaseModel):
    key: str = Field(description="route, allowed_routes or parameters.<name>")
    before: Any = None
    after: Any = None


class PromptDiffOut(BaseModel):
    base: int
    head: int
    template: list[PromptDiffLine]
    variables: PromptVariablesDiff
    binding: list[PromptBindingChange]
    kind_changed: bool


class PromptRenderOut(BaseModel):
    kind: Kind
    text: str | None
    messages: list[PromptMessage] | None
    version: int | None = Field(description="The version rendered; null for a draft")
    variables_used: dict[str, Any] = Field(description="The values used, defaults filled in")


class PromptCheckError(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None
    message_index: int | None = None


class PromptCheckOut(BaseModel):
    ok: bool
    placeholders: list[str]
    error: PromptCheckError | None = None


# --- the YAML file of `export` / `import` ----------------------------------------------------


class PromptFileVersion(PromptVersionIn):
    version: int = Field(ge=1)


class PromptFile(Strict):
    name: ModelName
    description: str = Field("", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    visibility: Visibility = "team"
    versions: list[PromptFileVersion] = Field(default_factory=list, max_length=1000)
    labels: dict[Label, int] = Field(default_factory=dict, description="label → version number in this file")
