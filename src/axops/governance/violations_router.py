"""HTTP routes of violations (`/api/governance/violations`) and their rule settings
(`/api/governance/violation-rules`). `audit:read` reads and moves a violation through the workflow
(operators: their teams' violations; others' answer 404); `policies:admin` edits the rules."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.governance import violations
from axops.governance.violation_schemas import (
    Kind,
    ResolveIn,
    RulesIn,
    RulesOut,
    Severity,
    Status,
    ViolationList,
    ViolationOut,
)

router = APIRouter(prefix="/api/governance", tags=["governance"])
Reader = Annotated[Principal, require("audit:read")]
Admin = Annotated[Principal, require("policies:admin")]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/violations")
async def list_violations(
    principal: Reader,
    session: Session,
    status: Status | None = None,
    kind: Kind | None = None,
    severity: Severity | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> ViolationList:
    """Violations newest first; `total` on the first page."""
    page = await violations.list_violations(
        session, principal, status=status, kind=kind, severity=severity, cursor=cursor, limit=limit
    )
    return ViolationList.model_validate(page, from_attributes=True)


@router.get("/violations/{violation_id}", responses={404: {}})
async def get_violation(violation_id: uuid.UUID, principal: Reader, session: Session) -> ViolationOut:
    return ViolationOut.model_validate(await violations.get_violation(session, principal, violation_id))


@router.post("/violations/{violation_id}/ack", responses={404: {}, 409: {}})
async def acknowledge(violation_id: uuid.UUID, principal: Reader, session: Session) -> ViolationOut:
    return ViolationOut.model_validate(await violations.acknowledge(session, principal, violation_id))


@router.post("/violations/{violation_id}/resolve", responses={404: {}, 409: {}, 422: {}})
async def resolve(violation_id: uuid.UUID, body: ResolveIn, principal: Reader, session: Session) -> ViolationOut:
    return ViolationOut.model_validate(await violations.resolve(session, principal, violation_id, body.comment))


@router.get("/violation-rules")
async def get_rules(principal: Reader, session: Session) -> RulesOut:
    """Every rule's settings (defaults with the administrator's changes) and the automatic suspension."""
    return RulesOut(rules=await violations.settings(session))


@router.put("/violation-rules", responses={403: {}, 422: {}})
async def put_rules(body: RulesIn, principal: Admin, session: Session) -> RulesOut:
    changes = {k: v.model_dump(exclude_none=True) for k, v in body if v is not None}
    return RulesOut(rules=await violations.update_settings(session, principal, changes))
