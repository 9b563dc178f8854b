"""HTTP routes of approval requests: everyone signed in asks and sees their own; holders of
`approvals:decide` see their teams' requests (pending first) and approve or reject them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter

from axops.auth.deps import CurrentPrincipal, Principal, Session
from axops.governance import approval_notify, approvals
from axops.governance.approval_models import ApprovalRequest
from axops.governance.approval_schemas import ApprovalCreate, ApprovalOut, Decision, InboxCount, Status

router = APIRouter(prefix="/api/governance/approvals", tags=["governance"])


async def _out(session, principal: Principal, rows: list[ApprovalRequest]) -> list[ApprovalOut]:
    names = await approvals.names(session, rows)
    now = datetime.now(UTC)
    out = []
    for row in rows:
        item = ApprovalOut.model_validate(row)
        item.requested_by_name = names.get(row.requested_by) if row.requested_by else None
        item.decided_by_name = names.get(row.decided_by) if row.decided_by else None
        item.expired = row.status == "approved" and row.expires_at is not None and row.expires_at <= now
        item.can_decide = (
            row.status == "pending"
            and principal.can(approvals.DECIDE)
            and principal.sees_team(row.team_id)
            and row.requested_by != principal.user_id
        )
        out.append(item)
    return out


@router.get("")
async def list_approvals(
    principal: CurrentPrincipal, session: Session, status: Status | None = None, mine: bool = False
) -> list[ApprovalOut]:
    """Deciders: their teams' requests and their own, pending first; others: their own requests."""
    return await _out(session, principal, await approvals.list_requests(session, principal, status=status, mine=mine))


@router.post("", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def create_approval(body: ApprovalCreate, principal: CurrentPrincipal, session: Session) -> ApprovalOut:
    """Ask for access to a model or route, or for a promotion or production deployment ahead of time."""
    row = await approvals.request(session, principal, **body.model_dump())
    return (await _out(session, principal, [row]))[0]


@router.get("/inbox-count")
async def inbox_count(principal: CurrentPrincipal, session: Session) -> InboxCount:
    """How many pending requests the caller may decide now (the menu's badge)."""
    return InboxCount(pending=await approval_notify.inbox_count(session, principal))


@router.get("/{approval_id}", responses={404: {}})
async def get_approval(approval_id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> ApprovalOut:
    return (await _out(session, principal, [await approvals.get(session, principal, approval_id)]))[0]


@router.post("/{approval_id}/approve", responses={403: {}, 404: {}, 409: {}})
async def approve(approval_id: uuid.UUID, body: Decision, principal: CurrentPrincipal, session: Session) -> ApprovalOut:
    row = await approvals.decide(session, principal, approval_id, True, body.comment)
    return (await _out(session, principal, [row]))[0]


@router.post("/{approval_id}/reject", responses={403: {}, 404: {}, 409: {}})
async def reject(approval_id: uuid.UUID, body: Decision, principal: CurrentPrincipal, session: Session) -> ApprovalOut:
    row = await approvals.decide(session, principal, approval_id, False, body.comment)
    return (await _out(session, principal, [row]))[0]


@router.post("/{approval_id}/cancel", responses={403: {}, 404: {}, 409: {}})
async def cancel(approval_id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> ApprovalOut:
    return (await _out(session, principal, [await approvals.cancel(session, principal, approval_id)]))[0]
