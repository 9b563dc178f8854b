"""Request and response models of the drift and usage-anomaly API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

AnomalyKind = Literal["requests", "tokens", "errors", "off_hours", "new_ip"]


class DriftResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    route: str
    feature: str
    test: str
    statistic: float
    p_value: float | None
    severity: str
    n_current: int
    n_reference: int
    current_start: datetime
    current_end: datetime
    reference_start: datetime
    reference_end: datetime
    computed_at: datetime


class DriftPoint(BaseModel):
    t: datetime
    feature: str
    test: str
    statistic: float


class DriftReferenceOut(BaseModel):
    start: datetime
    end: datetime
    pinned: bool  # False: the default, the 7 days before the current window


class DriftRouteOut(BaseModel):
    route: str
    latest: list[DriftResultOut]
    history: list[DriftPoint]
    reference: DriftReferenceOut
    window_hours: int


class DriftReferenceIn(BaseModel):
    """A pinned reference window; both null to go back to the default."""

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end")
    @classmethod
    def aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone (e.g. Z or +09:00)")
        return v


class DriftRunIn(BaseModel):
    route: str | None = Field(default=None, max_length=200)
    window_hours: int = Field(default=24, ge=1, le=24 * 30)


class DriftRunOut(BaseModel):
    results: int
    routes: list[str]


class AnomalyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: AnomalyKind
    subject_type: Literal["api_key", "user"]
    subject_id: uuid.UUID
    subject_name: str
    observed: float
    expected: float
    score: float
    detail: dict
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None


class AnomalyRunOut(BaseModel):
    changed: int
