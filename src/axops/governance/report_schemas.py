"""Request and response models of compliance reports and the governance dashboard."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: Literal["week", "month"]
    start: date | None = None  # any day of the period (Asia/Seoul); default: the last complete one


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    period: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by_name: str
    html_size: int
    html_sha256: str
    pdf_size: int | None
    pdf_sha256: str | None
    checklist: dict[str, str]


class ChecklistItem(BaseModel):
    id: str
    pipa: str
    iso: str
    status: Literal["met", "partial", "not_met"]
    evidence: str  # English, for the archived report
    facts: dict[str, int]  # the figures behind the status, for the UI's own sentence


class ViolationCount(BaseModel):
    policy: str
    kind: str
    count: int


class HighRiskPrompt(BaseModel):
    at: datetime
    action: str
    excerpt: str


class GovernanceDashboard(BaseModel):
    start: datetime
    end: datetime
    violations: list[ViolationCount]
    violations_recorded: bool
    heatmap: list[list[int]]  # [weekday 0=Monday, hour, count], Asia/Seoul
    high_risk: list[HighRiskPrompt]
    high_risk_recorded: bool
    checklist: list[ChecklistItem]
