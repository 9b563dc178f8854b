from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from axops.core.text import no_control

Sensitivity = Literal["public", "internal", "confidential", "restricted"]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[\w][\w.\- ]*$")
]
MaskMode = Literal["mask", "hash", "remove"]
# A tag: trimmed, not blank, one line. A key column names a column, which never holds a line break or a tab.
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(no_control)]
KeyColumn = Annotated[str, Field(max_length=300), AfterValidator(no_control)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetCreate(Strict):
    name: Name
    description: str = Field("", max_length=5000)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    team_id: uuid.UUID | None = None
    visibility: Literal["team", "organization"] = "team"
    key_column: KeyColumn | None = Field(None, description="Rows are matched on this column in diffs")


class DatasetUpdate(Strict):
    description: str | None = Field(None, max_length=5000)
    tags: list[Tag] | None = Field(None, max_length=32)
    visibility: Literal["team", "organization"] | None = None
    key_column: KeyColumn | None = None
    sensitivity_floor: Sensitivity | None = Field(
        None, description="The owner's level; the effective one is the higher of this and the scan's"
    )


class DatasetDelete(Strict):
    confirm_name: str = Field(description="Type the dataset's name to confirm")


class DeletedDatasetOut(BaseModel):
    """A deleted dataset that can still be restored."""

    id: uuid.UUID
    name: str
    team_id: uuid.UUID
    team_name: str | None = None
    deleted_at: datetime
    deleted_by: str | None = Field(None, description="Username of who deleted it (null: the account is gone)")
    purge_after: datetime = Field(description="From then on the daily purge removes it and its files for good")


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    description: str
    tags: list[str]
    team_id: uuid.UUID
    team_name: str | None = None
    visibility: str
    key_column: str | None
    sensitivity_floor: Sensitivity
    sensitivity: Sensitivity = Field(
        "public", description="Effective level: the higher of the owner's and the latest scan's"
    )
    latest_version: int | None = None
    row_count: int | None = None
    created_at: datetime
    updated_at: datetime


class Column(BaseModel):
    name: str
    type: str


class DatasetVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    dataset_id: uuid.UUID
    version: int
    label: str | None
    status: Literal["uploading", "processing", "ready", "failed"]
    error: str | None
    source: Literal["upload", "masked", "split"]
    parent_version_id: uuid.UUID | None
    lineage: dict[str, Any]
    filename: str
    format: str | None
    encoding: str | None
    size: int
    sha256: str | None
    row_count: int | None
    columns: list[Column]
    progress: dict[str, Any]
    sensitivity: Sensitivity | None
    review_status: Literal["uploaded", "scanned", "approved", "rejected"]
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_comment: str | None
    values_hidden: str | None = Field(
        None,
        description="Why top values, PII examples and failure details are left out "
        "(the data access policy); null when shown",
    )
    quality_warnings: int | None = None
    pii_entities: dict[str, int] | None = Field(None, description="Findings per entity type in the latest scan")
    created_at: datetime
    updated_at: datetime


class DatasetVersionDetail(DatasetVersionOut):
    quality: dict[str, Any] | None = None
    pii: dict[str, Any] | None = None


class DatasetUploadStart(Strict):
    dataset_id: uuid.UUID | None = Field(None, description="A new version of this dataset …")
    dataset: DatasetCreate | None = Field(None, description="… or a new dataset")
    filename: str = Field(min_length=1, max_length=300)
    size: int = Field(gt=0, description="Bytes the file will have")

    @model_validator(mode="after")
    def _one_target(self) -> DatasetUploadStart:
        if (self.dataset_id is None) == (self.dataset is None):
            raise ValueError("Give either dataset_id (a new version) or dataset (a new dataset).")
        return self


class DatasetChunkReceived(BaseModel):
    received: int
    size: int


class RowsPage(BaseModel):
    columns: list[Column]
    rows: list[dict[str, Any]]
    offset: int
    total: int


class DiffOut(BaseModel):
    schema_changes: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    mode: Literal["key", "hash"]
    key_column: str | None
    rows: dict[str, int]
    counts: dict[str, int]
    kind: Literal["added", "removed", "changed"]
    offset: int
    samples: list[dict[str, Any]]
    model_config = ConfigDict(populate_by_name=True)


class ScanRequest(Strict):
    version_id: uuid.UUID | None = Field(None, description="Default: the newest version")


class MaskRequest(Strict):
    entities: list[str] = Field(min_length=1, max_length=50, description="Entity types to mask, e.g. RRN, PHONE, EMAIL")
    mode: MaskMode = "mask"
    columns: list[str] | None = Field(None, max_length=2000, description="Default: every text column")


class SplitRequest(Strict):
    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    seed: int = 42
    stratify_column: str | None = Field(None, max_length=300)

    @model_validator(mode="after")
    def _sum(self) -> SplitRequest:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-6:
            raise ValueError("train + validation + test must add up to 1.")
        return self


class ReviewRequest(Strict):
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)
    override_pii: bool = Field(
        False, description="Approve despite unmasked high-risk PII (needs datasets:override_pii)"
    )
