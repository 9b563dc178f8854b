"""Telling deciders a request is waiting: a notification to the alert channels of the request's team
(monitoring delivers it, like violations' notifications), written in the transaction that makes the
request so it exists if and only if the request does; and the inbox count for the UI's badge. The
notification carries the kind, the target's name and the requester's name, never the reason text."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import Team, User
from axops.auth.scoping import team_clause
from axops.core.ids import uuid7
from axops.governance.approval_models import ApprovalRequest
from axops.monitoring.alert_models import AlertNotification
from axops.monitoring.channel_models import AlertChannel
from axops.monitoring.notifications import AlertItem, Notification

DECIDE = "approvals:decide"


async def notify(session: AsyncSession, row: ApprovalRequest) -> bool:
    """Queue the notification of a new request; False when its team has no alert channel."""
    channels = list((await session.scalars(select(AlertChannel.id).where(AlertChannel.team_id == row.team_id))).all())
    if not channels:
        return False
    team = await session.scalar(select(Team.name).where(Team.id == row.team_id)) or ""
    who = await session.scalar(select(User.username).where(User.id == row.requested_by)) or ""
    target = row.target_name + (f" v{row.version}" if row.version is not None else "")
    now = datetime.now(UTC)
    note = Notification(
        group_key=f"approval:{row.id}",
        rule_id="",
        rule_name=f"approval: {row.kind}",
        team=team,
        severity="info",
        status="firing",
        alerts=[
            AlertItem(
                fingerprint=str(row.id),
                labels={"alertname": "approval_requested", "kind": row.kind, "team": team, "severity": "info"},
                annotations={"summary": f"{who} asks for approval: {row.kind} {target}"},
                state="firing",
                value=None,
                starts_at=now,
            )
        ],
        url=f"/governance?tab=approvals&approval={row.id}",
    )
    session.add(
        AlertNotification(
            id=uuid7(),
            team_id=row.team_id,
            rule_id=None,
            group_key=note.group_key,
            status="firing",
            channel_ids=channels,
            payload=note.to_json(),
            created_at=now,
        )
    )
    await session.flush()
    return True


async def inbox_count(session: AsyncSession, principal: Principal) -> int:
    """Pending requests the caller may decide: holds approvals:decide, in the request's team (Admin: any),
    and not their own."""
    if not principal.can(DECIDE):
        return 0
    return (
        await session.scalar(
            select(func.count())
            .select_from(ApprovalRequest)
            .where(
                ApprovalRequest.status == "pending",
                team_clause(principal, ApprovalRequest.team_id),
                ApprovalRequest.requested_by.is_distinct_from(principal.user_id),
            )
        )
        or 0
    )
