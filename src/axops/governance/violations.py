"""Violations: the detection job (rules in violation_rules.py), the workflow open → acknowledged →
resolved, the automatic actions (suspending a key, notifying the team's alert channels) and the rule
settings.

Dedupe: at most one active (open or acknowledged) violation per (kind, subject), enforced by a partial
unique index; later events add to it. After it is resolved, only events newer than its `last_seen`
open a new one. Notification rule: a new violation of severity warning or critical is sent to every
alert channel owned by the subject's team, as an `alert_notifications` row delivered by
monitoring.delivery."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit, cache
from axops.auth.deps import Principal
from axops.auth.models import ApiKey, Team, TeamMember, User
from axops.auth.scoping import SYSTEM, team_clause
from axops.core.db import Database
from axops.core.errors import Conflict, NotFound
from axops.core.ids import uuid7
from axops.core.pagination import page_of, paginate_desc
from axops.governance import violation_rules as rules
from axops.governance.violation_models import Violation, ViolationRule, ViolationWatermark
from axops.monitoring import delivery
from axops.monitoring.alert_models import AlertNotification
from axops.monitoring.channel_models import AlertChannel
from axops.monitoring.notifications import AlertItem, Notification

log = logging.getLogger("axops.governance.violations")

SETTLE = timedelta(seconds=15)  # usage records land in batches: read only what is this old
FIRST_RUN = timedelta(minutes=10)
MAX_GAP = timedelta(days=1)  # a worker down for a week does not scan a week of events at once
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NOTIFY_SEVERITIES = ("warning", "critical")
_LOCK = 0x6178_7630_3238  # pg advisory lock: one detection run at a time


async def settings(session: AsyncSession) -> dict[str, dict[str, Any]]:
    stored = {r.kind: r.config for r in await session.scalars(select(ViolationRule))}
    return rules.merged(stored)


async def update_settings(session: AsyncSession, principal: Principal, changes: dict[str, dict]) -> dict:
    """Store the settings of the rules named (only keys a rule has); audited with the changes."""
    current = await settings(session)
    summary = {}
    for kind, values in changes.items():
        known = {k: v for k, v in values.items() if k in rules.DEFAULTS[kind] and v is not None}
        diff = audit.diff(current[kind], known)
        if not diff:
            continue
        row = await session.get(ViolationRule, kind)
        if row is None:
            row = ViolationRule(kind=kind, config={})
            session.add(row)
        row.config = {**row.config, **known}
        row.updated_at = datetime.now(UTC)
        row.updated_by = principal.username
        summary[kind] = diff
    if summary:
        await session.flush()
        audit.record(session, "violation_rules.update", resource_type="violation_rules", summary=summary)
    return await settings(session)


# --- detection ---------------------------------------------------------------------------------------


async def detect(db: Database, now: datetime | None = None, since: datetime | None = None) -> list[uuid.UUID]:
    """One detection run over (since, now - SETTLE]; `since` defaults to where the last run stopped.
    Returns the ids of violations opened. Notifications are dispatched after the commit."""
    now = now or datetime.now(UTC)
    until = now - SETTLE
    async with db.sessionmaker() as session:
        if not await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}):
            return []
        mark = await session.get(ViolationWatermark, 1, with_for_update=True)
        start = since or (mark.until if mark else until - FIRST_RUN)
        start = max(start, until - MAX_GAP)
        opened = await detect_in(session, start, until) if start < until else []
        if mark is None:
            session.add(ViolationWatermark(id=1, until=until))
        elif until > mark.until:
            mark.until = until
        await session.commit()
    if opened:
        try:
            await delivery.dispatch(db)
        except Exception:  # the 15-second delivery task retries; detection stays done
            log.exception("violation notification dispatch failed")
    return opened


async def detect_in(session: AsyncSession, since: datetime, until: datetime) -> list[uuid.UUID]:
    cfg = await settings(session)
    opened: list[Violation] = []
    for kind, detector in rules.DETECTORS.items():
        if not cfg[kind]["enabled"]:
            continue
        for finding in await detector(session, cfg[kind], since, until):
            v = await _upsert(session, finding, cfg[kind]["severity"])
            if v is not None:
                opened.append(v)
    if opened:
        await _describe(session, opened)
        await session.flush()
        for v in opened:
            audit.record(
                session,
                "violation.open",
                resource_type="violation",
                resource_id=v.id,
                team_id=v.team_id,
                summary={"kind": v.kind, "severity": v.severity, "subject_type": v.subject_type},
                actor=SYSTEM,
            )
        await _auto_suspend(session, opened, cfg["auto_suspend"])
        await _notify(session, opened)
    return [v.id for v in opened]


async def _upsert(session: AsyncSession, f: rules.Finding, severity: str) -> Violation | None:
    same = (Violation.kind == f.kind, Violation.subject_type == f.subject_type, Violation.subject_id == f.subject_id)
    active = await session.scalar(select(Violation).where(*same, Violation.status != "resolved").with_for_update())
    if active is not None:
        active.event_count += f.new
        active.last_seen = max(active.last_seen, f.last)
        active.evidence = {**f.evidence, "count": active.event_count}
        if SEVERITY_RANK[severity] > SEVERITY_RANK[active.severity]:
            active.severity = severity
        return None
    handled = await session.scalar(select(func.max(Violation.last_seen)).where(*same))
    if handled is not None and f.last <= handled:
        return None  # what this finding saw was resolved already
    v = Violation(
        id=uuid7(),
        kind=f.kind,
        severity=severity,
        status="open",
        subject_type=f.subject_type,
        subject_id=f.subject_id,
        subject_name="",
        evidence={**f.evidence, "count": f.total},
        event_count=f.total,
        first_seen=f.first,
        last_seen=f.last,
    )
    session.add(v)
    return v


async def _describe(session: AsyncSession, found: list[Violation]) -> None:
    """Name each subject and give it a team: a key's own team; a user's first team other than the default."""
    key_ids = [uuid.UUID(v.subject_id) for v in found if v.subject_type == "apikey"]
    user_ids = [uuid.UUID(v.subject_id) for v in found if v.subject_type == "user"]
    keys = {k.id: k for k in await session.scalars(select(ApiKey).where(ApiKey.id.in_(key_ids)))} if key_ids else {}
    names = dict((await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))).all())
    teams: dict[uuid.UUID, uuid.UUID] = {}
    if user_ids:
        rows = await session.execute(
            select(TeamMember.user_id, TeamMember.team_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.user_id.in_(user_ids))
            .order_by(Team.is_default, TeamMember.created_at)
        )
        for user_id, team_id in rows:
            teams.setdefault(user_id, team_id)
    for v in found:
        sid = uuid.UUID(v.subject_id)
        if v.subject_type == "apikey" and (key := keys.get(sid)) is not None:
            v.subject_name, v.team_id = f"{key.name} ({key.prefix}…)"[:200], key.team_id
        elif v.subject_type == "user":
            v.subject_name, v.team_id = names.get(sid, v.subject_id), teams.get(sid)


async def _auto_suspend(session: AsyncSession, opened: list[Violation], cfg: dict) -> None:
    """Revoke a key once it has `threshold` critical violations within `window_days` (audited as system)."""
    if not cfg["enabled"]:
        return
    since = datetime.now(UTC) - timedelta(days=cfg["window_days"])
    for v in opened:
        if v.subject_type != "apikey" or v.severity != "critical":
            continue
        criticals = await session.scalar(
            select(func.count()).where(
                Violation.subject_type == "apikey",
                Violation.subject_id == v.subject_id,
                Violation.severity == "critical",
                Violation.created_at >= since,
            )
        )
        key = await session.get(ApiKey, uuid.UUID(v.subject_id))
        if criticals < cfg["threshold"] or key is None or key.revoked_at is not None:
            continue
        key.revoked_at = datetime.now(UTC)
        v.action = "key_suspended"
        await session.flush()
        await cache.invalidate(session)
        audit.record(
            session,
            "apikey.revoke",
            resource_type="apikey",
            resource_id=key.id,
            team_id=key.team_id,
            summary={"name": key.name, "prefix": key.prefix, "reason": "violations", "violation_id": str(v.id)},
            actor=SYSTEM,
        )


async def _notify(session: AsyncSession, opened: list[Violation]) -> None:
    due = [v for v in opened if v.severity in NOTIFY_SEVERITIES and v.team_id is not None]
    if not due:
        return
    team_ids = list({v.team_id for v in due})
    channels: dict[uuid.UUID, list[uuid.UUID]] = {}
    for team_id, channel_id in await session.execute(
        select(AlertChannel.team_id, AlertChannel.id).where(AlertChannel.team_id.in_(team_ids))
    ):
        channels.setdefault(team_id, []).append(channel_id)
    team_names = dict((await session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))).all())
    now = datetime.now(UTC)
    for v in due:
        if not channels.get(v.team_id):
            continue
        team = team_names.get(v.team_id, "")
        labels = {
            "alertname": "policy_violation",
            "kind": v.kind,
            "severity": v.severity,
            "team": team,
            "subject_type": v.subject_type,
        }
        note = Notification(
            group_key=f"violation:{v.id}",
            rule_id="",
            rule_name=f"governance: {v.kind}",
            team=team,
            severity=v.severity,
            status="firing",
            alerts=[
                AlertItem(
                    fingerprint=str(v.id),
                    labels=labels,
                    annotations={"summary": f"{v.kind}: {v.subject_name} ({v.event_count})"},
                    state="firing",
                    value=float(v.event_count),
                    starts_at=v.first_seen,
                )
            ],
            url=f"/governance?tab=violations&violation={v.id}",
        )
        session.add(
            AlertNotification(
                id=uuid7(),
                team_id=v.team_id,
                rule_id=None,
                group_key=note.group_key,
                status="firing",
                channel_ids=channels[v.team_id],
                payload=note.to_json(),
                created_at=now,
            )
        )


# --- reading and the workflow ------------------------------------------------------------------------


async def list_violations(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None = None,
    kind: str | None = None,
    severity: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict:
    q = select(Violation).where(team_clause(principal, Violation.team_id))
    if status:
        q = q.where(Violation.status == status)
    if kind:
        q = q.where(Violation.kind == kind)
    if severity:
        q = q.where(Violation.severity == severity)
    total = None if cursor else await session.scalar(select(func.count()).select_from(q.subquery()))
    rows = (await session.scalars(paginate_desc(q, Violation.created_at, Violation.id, cursor, limit))).all()
    items, next_cursor = page_of(list(rows), limit)
    return {"items": items, "next_cursor": next_cursor, "total": total}


async def get_violation(session: AsyncSession, principal: Principal, violation_id: uuid.UUID, lock=False) -> Violation:
    q = select(Violation).where(Violation.id == violation_id, team_clause(principal, Violation.team_id))
    v = await session.scalar(q.with_for_update() if lock else q)
    if v is None:
        raise NotFound("No such violation.", code="violation_not_found")
    return v


async def acknowledge(session: AsyncSession, principal: Principal, violation_id: uuid.UUID) -> Violation:
    v = await get_violation(session, principal, violation_id, lock=True)
    if v.status != "open":
        raise Conflict(f"The violation is {v.status} already.", code="violation_state", state=v.status)
    v.status, v.acked_at, v.acked_by = "acknowledged", datetime.now(UTC), principal.username
    await session.flush()
    audit.record(
        session, "violation.acknowledge", resource_type="violation", resource_id=v.id, team_id=v.team_id,
        summary={"kind": v.kind},
    )  # fmt: skip
    return v


async def resolve(session: AsyncSession, principal: Principal, violation_id: uuid.UUID, comment: str) -> Violation:
    v = await get_violation(session, principal, violation_id, lock=True)
    if v.status == "resolved":
        raise Conflict("The violation is resolved already.", code="violation_state", state=v.status)
    now = datetime.now(UTC)
    if v.acked_at is None:
        v.acked_at, v.acked_by = now, principal.username
    v.status, v.resolved_at, v.resolved_by, v.comment = "resolved", now, principal.username, comment
    await session.flush()
    audit.record(
        session, "violation.resolve", resource_type="violation", resource_id=v.id, team_id=v.team_id,
        summary={"kind": v.kind, "comment_chars": len(comment)},
    )  # fmt: skip
    return v
