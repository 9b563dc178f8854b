from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from axops.core.text import no_control

Task = Literal["text-generation", "embedding", "classification", "image", "audio", "other"]
Stage = Literal["draft", "staging", "production", "archived"]
Tag = Field(min_length=1, max_length=64)


def _relative_pattern(pattern: str) -> str:
    no_control(pattern)
    p = pattern.replace("\\", "/")
    if p.startswith("/") or p[1:2] == ":" or ".." in p.split("/"):
        raise ValueError("must be relative to the imported directory: no '..' and no absolute paths")
    return pattern


AllowPattern = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_relative_pattern)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A model's name is how `/v1` callers and `name@ref` references reach it: letters (any script) and digits,
# then also `.`, `_` and `-`; no spaces, slashes, `@` or punctuation. web/src/rules.ts `modelName` matches it.
MODEL_NAME_PATTERN = r"^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*$"
ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=MODEL_NAME_PATTERN,
        description="Letters and digits (any script), then also '.', '_' and '-'; no spaces",
    ),
]


class ModelCreate(Strict):
    name: ModelName
    description: str = Field("", max_length=10_000)
    task: Task = "text-generation"
    tags: list[str] = Field(default_factory=list, max_length=50)
    team_id: uuid.UUID | None = None
    visibility: Literal["team", "organization"] = "team"


class ModelUpdate(Strict):
    name: ModelName | None = Field(None, description="Rename; references by the old name stop resolving")
    description: str | None = Field(None, max_length=10_000)
    task: Task | None = None
    tags: list[str] | None = Field(None, max_length=50)
    visibility: Literal["team", "organization"] | None = None


class ModelDelete(Strict):
    confirm_name: str = Field(description="The model's name, typed again")


class DeletedModelOut(BaseModel):
    """A deleted model that can still be restored."""

    id: uuid.UUID
    name: str
    team_id: uuid.UUID
    team_name: str | None = None
    deleted_at: datetime
    deleted_by: str | None = Field(None, description="Username of who deleted it (null: the account is gone)")
    purge_after: datetime = Field(description="From then on the daily purge removes it and its files for good")


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    description: str
    task: str
    tags: list[str]
    team_id: uuid.UUID
    team_name: str | None = None
    visibility: str
    architecture: str | None
    parameter_count: int | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict, description="alias → version number")


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    path: str
    size: int
    sha256: str


class SignedFileUrl(BaseModel):
    url: str = Field(
        description="GET it without credentials until it expires (absolute for S3, relative to the API otherwise)"
    )
    expires_in: int = Field(description="seconds the URL stays valid")
    size: int
    sha256: str


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    model_id: uuid.UUID
    version: int
    status: str
    stage: str
    source: str
    source_ref: str | None
    base_version_id: uuid.UUID | None
    dataset_version_ids: list[uuid.UUID]
    run_id: uuid.UUID | None
    total_size: int
    file_count: int
    card: dict[str, Any]
    card_markdown: str
    metrics: dict[str, Any]
    progress: dict[str, Any]
    error: str | None
    archived_at: datetime | None
    artifacts_deleted_at: datetime | None
    created_at: datetime
    files: list[FileOut] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)


class DeclaredFile(Strict):
    path: Annotated[str, Field(min_length=1, max_length=512), AfterValidator(no_control)]
    size: int = Field(gt=0, description="Bytes; files are sent in order, in chunks of any size")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Checked on completion when given")


class UploadStart(Strict):
    files: list[DeclaredFile] = Field(min_length=1, max_length=10_000)
    base_version_id: uuid.UUID | None = None


class ChunkReceived(BaseModel):
    path: str
    received: int
    size: int


class StageChange(Strict):
    stage: Stage
    force: bool = Field(
        False,
        description="Move to production although the evaluation gate refuses (needs eval:gate_override; audited).",
    )


class AliasSet(Strict):
    version_id: uuid.UUID


class CardUpdate(Strict):
    card_markdown: str = Field(max_length=200_000)


class LocalImport(Strict):
    model_id: uuid.UUID
    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="A directory on the server inside AXOPS_IMPORT_ROOTS (or a Hugging Face cache entry there)",
        ),
        AfterValidator(no_control),
    ]
    allow_patterns: list[AllowPattern] | None = Field(None, max_length=50)


class HuggingFaceImport(Strict):
    model_id: uuid.UUID
    repo_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
    revision: str | None = Field(None, max_length=200)
    allow_patterns: list[AllowPattern] | None = Field(None, max_length=50)
    token: str | None = Field(None, max_length=500, description="Used once for this download; never stored")


class CompareRequest(Strict):
    version_ids: list[uuid.UUID] = Field(min_length=2, max_length=10)


class CompareColumn(BaseModel):
    version_id: uuid.UUID
    model_name: str
    version: int
    stage: str
    architecture: str | None
    parameter_count: int | None
    context_length: int | None
    vocab_size: int | None
    dtype: str | None
    total_size: int
    dataset_version_ids: list[uuid.UUID]
    run_id: uuid.UUID | None
    metrics: dict[str, Any]


class ConfigDifference(BaseModel):
    key: str
    values: list[Any]


class CompareOut(BaseModel):
    versions: list[CompareColumn]
    differing_facts: list[str]
    config_diff: list[ConfigDifference]
