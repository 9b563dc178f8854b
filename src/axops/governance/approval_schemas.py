"""Approval requests over HTTP (`/api/governance/approvals`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from axops.auth.schemas import Strict

Kind = Literal["promote", "deploy", "access", "canary", "scale"]
AskKind = Literal["promote", "deploy", "access"]  # canary and scale requests are made by the refused action
Status = Literal["pending", "approved", "rejected", "cancelled", "used"]


class ApprovalCreate(Strict):
    kind: AskKind
    reason: str = Field("", max_length=2000)
    version_id: uuid.UUID | None = Field(None, description="promote, deploy: the model version")
    model_id: uuid.UUID | None = Field(None, description="access: the model")
    route: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[\w.:/@\-]+$", description="access: a gateway route's name"
    )
    action: Literal["call", "deploy", "download"] | None = Field(None, description="access: what the team may do")
    team_id: uuid.UUID | None = Field(None, description="access: the team to give it to (default: yours)")

    @model_validator(mode="after")
    def _target(self):
        if self.kind == "access" and (self.model_id is None) == (self.route is None):
            raise ValueError("an access request names either model_id or route")
        if self.kind != "access" and self.version_id is None:
            raise ValueError("a promote or deploy request names version_id")
        return self


class Decision(Strict):
    comment: str = Field("", max_length=2000)


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: Kind
    status: Status
    team_id: uuid.UUID
    target_type: Literal["model", "route", "deployment"]
    target_id: uuid.UUID | None
    target_name: str
    version_id: uuid.UUID | None
    version: int | None
    action: str | None = Field(description="access: call, deploy or download; scale: the max replicas asked for")
    requester_team_id: uuid.UUID | None
    requested_by: uuid.UUID | None
    requested_by_name: str | None = None
    reason: str
    decided_by: uuid.UUID | None
    decided_by_name: str | None = None
    decided_at: datetime | None
    comment: str
    expires_at: datetime | None
    used_at: datetime | None
    created_at: datetime
    expired: bool = False
    can_decide: bool = Field(False, description="the caller may approve or reject it now")


class InboxCount(BaseModel):
    pending: int = Field(description="Pending requests the caller may decide now")
