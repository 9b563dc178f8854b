"""Alert rules, alerts, silences and notifications for callers: CRUD with validation (expression,
durations, known series, visible channels), the preview of an expression's current values, the built-in
pack, acknowledgement. Team-scoped (other teams' rows answer 404), audited; flushes, never commits."""

from __future__ import annotations

import difflib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team
from axops.auth.scoping import owning_team, require, require_owner, team_clause
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.monitoring import alert_pack, alert_rules, alerts, scope, store
from axops.monitoring.alert_models import Alert, AlertNotification, AlertRule, AlertSilence
from axops.monitoring.alert_schemas import BuiltinInstall, RuleCreate, RuleUpdate, SilenceCreate

PREVIEW_LIMIT = 200
MAX_FOR = 86400
REPEAT_RANGE = (60, 7 * 86400)
SILENCE_RANGE = (60, 30 * 86400)


def _seconds(value: str, low: int, high: int, field: str) -> int:
    try:
        seconds = alert_rules.parse_duration(value)
    except alert_rules.ExpressionError:
        seconds = -1
    if not low <= seconds <= high:
        raise Invalid(
            f"`{field}` must be a duration between {alert_rules.format_duration(low)} and "
            f"{alert_rules.format_duration(high)} (e.g. 30s, 5m, 1h).",
            code="alert_duration_invalid",
            field=field,
            low=alert_rules.format_duration(low),
            high=alert_rules.format_duration(high),
        )
    return seconds


async def check_expression(session: AsyncSession, expression: str, *, need_condition: bool) -> alert_rules.Parsed:
    """Parse, and refuse series names the history has never had (suggesting close ones)."""
    parsed = alert_rules.parse(expression)
    if need_condition and not parsed.has_condition:
        raise Invalid(
            "A rule's expression needs a comparison (e.g. `> 0.05`) or absent(...).",
            code="alert_expression_no_condition",
        )
    known = set(await store.names(session))
    for rng in parsed.ranges:
        name = rng.selector.name
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise Invalid(
                f"No series named '{name}' is stored.{hint}",
                code="alert_series_unknown",
                series=name,
                position=rng.selector.position,
                suggestions=close,
            )
    return parsed


async def _check_channels(session: AsyncSession, team_id: uuid.UUID, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    if (await session.scalar(text("SELECT to_regclass('alert_channels')"))) is None:
        found = set()
    else:
        found = set(
            await session.scalars(
                text(
                    "SELECT id FROM alert_channels WHERE id = ANY(:ids) "
                    "AND (team_id = :team OR visibility = 'organization')"
                ),
                {"ids": ids, "team": team_id},
            )
        )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise Invalid(
            "Unknown alert channel (or one of another team).", code="alert_channel_unknown", channel_ids=missing
        )
    return ids


def _not_found(kind: str = "alert rule") -> NotFound:
    return NotFound(f"No such {kind}.", code="alert_not_found" if kind == "alert" else "alert_rule_not_found")


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID, *, for_update=False) -> AlertRule:
    q = select(AlertRule).where(AlertRule.id == rule_id, team_clause(principal, AlertRule.team_id))
    rule = await session.scalar(q.with_for_update() if for_update else q)
    if rule is None:
        raise _not_found()
    return rule


def _snapshot(rule: AlertRule) -> dict:
    return {
        "name": rule.name,
        "expression": rule.expression,
        "for": alert_rules.format_duration(rule.for_s),
        "severity": rule.severity,
        "group_by": list(rule.group_by or []),
        "repeat_interval": alert_rules.format_duration(rule.repeat_s),
        "channel_ids": [str(c) for c in rule.channel_ids or []],
        "enabled": rule.enabled,
    }


async def _save(session: AsyncSession, rule: AlertRule) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A rule named '{rule.name}' already exists in this team.", code="alert_rule_exists") from exc


async def create_rule(session: AsyncSession, principal: Principal, data: RuleCreate, *, builtin: str | None = None):
    require(principal, "alerts:write")
    team_id = owning_team(principal, data.team_id)
    await check_expression(session, data.expression, need_condition=True)
    rule = AlertRule(
        team_id=team_id,
        name=data.name,
        description=data.description or "",
        expression=data.expression,
        for_s=_seconds(data.for_ or "0s", 0, MAX_FOR, "for"),
        severity=data.severity,
        labels=data.labels or {},
        annotations=data.annotations or {},
        group_by=list(dict.fromkeys(data.group_by or [])),
        repeat_s=_seconds(data.repeat_interval or "4h", *REPEAT_RANGE, "repeat_interval"),
        channel_ids=await _check_channels(session, team_id, data.channel_ids or []),
        enabled=True if data.enabled is None else data.enabled,
        builtin=builtin,
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(rule)
    await _save(session, rule)
    audit.record(
        session, "alert_rule.create", resource_type="alert_rule", resource_id=rule.id, team_id=team_id,
        summary=_snapshot(rule),
    )  # fmt: skip
    return rule


async def update_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RuleUpdate):
    rule = await get_rule(session, principal, rule_id, for_update=True)
    require_owner(principal, rule, "alerts:write", "alert rule")
    before = _snapshot(rule)
    fields = data.model_fields_set
    if data.expression is not None:
        await check_expression(session, data.expression, need_condition=True)
        rule.expression = data.expression
    if data.name is not None:
        rule.name = data.name
    if "description" in fields:
        rule.description = data.description or ""
    if data.for_ is not None:
        rule.for_s = _seconds(data.for_, 0, MAX_FOR, "for")
    if data.severity is not None:
        rule.severity = data.severity
    if data.labels is not None:
        rule.labels = data.labels
    if data.annotations is not None:
        rule.annotations = data.annotations
    if data.group_by is not None:
        rule.group_by = list(dict.fromkeys(data.group_by))
    if data.repeat_interval is not None:
        rule.repeat_s = _seconds(data.repeat_interval, *REPEAT_RANGE, "repeat_interval")
    if data.channel_ids is not None:
        rule.channel_ids = await _check_channels(session, rule.team_id, data.channel_ids)
    if data.enabled is not None:
        if rule.enabled and not data.enabled:  # paused: its open alerts end now (without notifications)
            await session.execute(text("DELETE FROM alerts WHERE rule_id = :id AND state = 'pending'"), {"id": rule.id})
            await session.execute(
                text(
                    "UPDATE alerts SET state = 'resolved', resolved_at = now() WHERE rule_id = :id AND state = 'firing'"
                ),
                {"id": rule.id},
            )
        rule.enabled = data.enabled
    rule.updated_at = datetime.now(UTC)
    await _save(session, rule)
    audit.record(
        session, "alert_rule.update", resource_type="alert_rule", resource_id=rule.id, team_id=rule.team_id,
        summary=audit.diff(before, _snapshot(rule)),
    )  # fmt: skip
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, principal, rule_id, for_update=True)
    require_owner(principal, rule, "alerts:write", "alert rule")
    audit.record(
        session, "alert_rule.delete", resource_type="alert_rule", resource_id=rule.id, team_id=rule.team_id,
        summary={"name": rule.name},
    )  # fmt: skip
    await session.delete(rule)
    await session.flush()


async def install_builtin(session: AsyncSession, principal: Principal, data: BuiltinInstall) -> list[AlertRule]:
    """The pack's rules the team doesn't have yet (by builtin key); rules on series not stored yet are
    installed all the same (the pack names the platform's own series)."""
    require(principal, "alerts:write")
    team_id = owning_team(principal, data.team_id)
    have = set(
        await session.scalars(
            select(AlertRule.builtin).where(AlertRule.team_id == team_id, AlertRule.builtin.is_not(None))
        )
    )
    added = []
    for item in alert_pack.PACK:
        if item["builtin"] in have:
            continue
        alert_rules.parse(item["expression"])
        rule = AlertRule(
            team_id=team_id, name=item["name"], description=item["description"], expression=item["expression"],
            for_s=alert_rules.parse_duration(item["for"]), severity=item["severity"], labels={},
            annotations={"summary": item["summary"]}, group_by=item["group_by"], repeat_s=4 * 3600,
            channel_ids=[], enabled=data.enabled, builtin=item["builtin"],
            created_by=principal.user_id if principal.auth != "system" else None,
        )  # fmt: skip
        session.add(rule)
        await _save(session, rule)
        added.append(rule)
    audit.record(
        session, "alert_rule.create", resource_type="alert_rule", team_id=team_id,
        summary={"builtin_pack": [r.builtin for r in added], "enabled": data.enabled},
    )  # fmt: skip
    return added


async def list_rules(session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int) -> dict:
    where = [team_clause(principal, AlertRule.team_id)]
    total = None if cursor else await session.scalar(select(func.count()).select_from(AlertRule).where(*where))
    q = select(AlertRule).where(*where)
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(AlertRule.created_at, AlertRule.id) < tuple_(at, id_))
    rows = list(await session.scalars(q.order_by(AlertRule.created_at.desc(), AlertRule.id.desc()).limit(limit + 1)))
    rows, next_cursor = page_of(rows, limit)
    return {"items": await described(session, rows), "next_cursor": next_cursor, "total": total}


async def described(session: AsyncSession, rules: list[AlertRule]) -> list[dict]:
    if not rules:
        return []
    counts: dict = {}
    for rule_id, state, n in await session.execute(
        select(Alert.rule_id, Alert.state, func.count())
        .where(Alert.rule_id.in_([r.id for r in rules]), Alert.state != "resolved")
        .group_by(Alert.rule_id, Alert.state)
    ):
        counts.setdefault(rule_id, {})[state] = n
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({r.team_id for r in rules})))).all()
    )
    return [
        {
            "id": r.id,
            "team_id": r.team_id,
            "team_name": teams.get(r.team_id),
            "name": r.name,
            "description": r.description,
            "expression": r.expression,
            "for": alert_rules.format_duration(r.for_s),
            "severity": r.severity,
            "labels": r.labels,
            "annotations": r.annotations,
            "group_by": r.group_by,
            "repeat_interval": alert_rules.format_duration(r.repeat_s),
            "channel_ids": r.channel_ids or [],
            "enabled": r.enabled,
            "builtin": r.builtin,
            "last_evaluated_at": r.last_evaluated_at,
            "last_error": r.last_error,
            "firing": counts.get(r.id, {}).get("firing", 0),
            "pending": counts.get(r.id, {}).get("pending", 0),
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in rules
    ]


async def preview(session: AsyncSession, principal: Principal, expression: str, now: datetime | None = None) -> dict:
    """The expression's current value per label set over the series the caller may read."""
    parsed = await check_expression(session, expression, need_condition=False)
    now = now or datetime.now(UTC)
    windows = await alerts.read_windows(session, parsed.ranges, now)
    samples = alert_rules.evaluate(parsed.root, windows, await scope.series_check(session, principal))
    samples.sort(key=lambda s: (not s.ok, sorted(s.labels.items())))
    return {
        "samples": [{"labels": s.labels, "value": s.value, "matches": s.ok} for s in samples[:PREVIEW_LIMIT]],
        "total": len(samples),
        "has_condition": parsed.has_condition,
    }


# -- alerts ------------------------------------------------------------------------------------

_STATES = {"firing": ["firing"], "pending": ["pending"], "resolved": ["resolved"], "active": ["firing", "pending"]}


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    *,
    state: str,
    severity: str | None,
    silenced: bool | None,
    rule_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> dict:
    where = [team_clause(principal, Alert.team_id)]
    if state in _STATES:
        where.append(Alert.state.in_(_STATES[state]))
    if severity:
        where.append(AlertRule.severity == severity)
    if silenced is not None:
        where.append(Alert.silenced.is_(silenced))
    if rule_id:
        where.append(Alert.rule_id == rule_id)
    base = select(Alert, AlertRule).join(AlertRule, AlertRule.id == Alert.rule_id).where(*where)
    total = None
    if not cursor:
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
    q = base
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(Alert.started_at, Alert.id) < tuple_(at, id_))
    rows = list((await session.execute(q.order_by(Alert.started_at.desc(), Alert.id.desc()).limit(limit + 1))).all())
    rows, next_cursor = page_of(rows, limit, key=lambda r: (r[0].started_at, r[0].id))
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({a.team_id for a, _ in rows})))).all()
    )
    return {
        "items": [_alert_out(a, r, teams.get(a.team_id, "")) for a, r in rows],
        "next_cursor": next_cursor,
        "total": total,
    }


def _alert_out(a: Alert, rule: AlertRule, team_name: str) -> dict:
    labels = alerts.full_labels(rule, team_name, a.labels)
    summary = (rule.annotations or {}).get("summary") or rule.name
    return {
        "id": a.id, "rule_id": a.rule_id, "rule_name": rule.name, "team_id": a.team_id, "severity": rule.severity,
        "fingerprint": a.fingerprint, "labels": labels, "state": a.state, "value": a.value,
        "summary": alerts.render(summary, a.value, labels), "started_at": a.started_at, "fired_at": a.fired_at,
        "resolved_at": a.resolved_at, "evaluated_at": a.evaluated_at, "silenced": a.silenced, "acked_at": a.acked_at,
        "acked_by_name": a.acked_by_name,
    }  # fmt: skip


async def ack(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> dict:
    row = (
        await session.execute(
            select(Alert, AlertRule)
            .join(AlertRule, AlertRule.id == Alert.rule_id)
            .where(Alert.id == alert_id, team_clause(principal, Alert.team_id))
            .with_for_update(of=Alert)
        )
    ).first()
    if row is None:
        raise _not_found("alert")
    alert, rule = row
    require_owner(principal, alert, "alerts:write", "alert")
    if alert.acked_at is None:
        alert.acked_at, alert.acked_by, alert.acked_by_name = datetime.now(UTC), principal.user_id, principal.username
        audit.record(
            session, "alert.ack", resource_type="alert", resource_id=alert.id, team_id=alert.team_id,
            summary={"rule": rule.name, "labels": alert.labels},
        )  # fmt: skip
        await session.flush()
    team = await session.scalar(select(Team.name).where(Team.id == alert.team_id))
    return _alert_out(alert, rule, team or "")


# -- silences ----------------------------------------------------------------------------------


async def create_silence(session: AsyncSession, principal: Principal, data: SilenceCreate) -> AlertSilence:
    require(principal, "alerts:write")
    team_id = owning_team(principal, data.team_id)
    now = datetime.now(UTC)
    starts = data.starts_at.astimezone(UTC) if data.starts_at and data.starts_at.tzinfo else (data.starts_at or now)
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=UTC)
    silence = AlertSilence(
        team_id=team_id,
        matchers=[m.model_dump() for m in data.matchers],
        starts_at=starts,
        ends_at=starts + timedelta(seconds=_seconds(data.duration, *SILENCE_RANGE, "duration")),
        comment=data.comment,
        created_by=principal.user_id if principal.auth != "system" else None,
        created_by_name=principal.username,
    )
    session.add(silence)
    await session.flush()
    audit.record(
        session, "alert_silence.create", resource_type="alert_silence", resource_id=silence.id, team_id=team_id,
        summary={"matchers": silence.matchers, "ends_at": silence.ends_at.isoformat()},
    )  # fmt: skip
    return silence


def silence_out(s: AlertSilence, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    return {
        "id": s.id, "team_id": s.team_id, "matchers": s.matchers, "starts_at": s.starts_at, "ends_at": s.ends_at,
        "comment": s.comment, "created_by_name": s.created_by_name, "created_at": s.created_at,
        "active": s.starts_at <= now < s.ends_at,
    }  # fmt: skip


async def list_silences(
    session: AsyncSession, principal: Principal, *, active: bool | None, cursor: str | None, limit: int
) -> dict:
    now = datetime.now(UTC)
    q = select(AlertSilence).where(team_clause(principal, AlertSilence.team_id))
    if active is True:
        q = q.where(AlertSilence.ends_at > now)
    elif active is False:
        q = q.where(AlertSilence.ends_at <= now)
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(AlertSilence.created_at, AlertSilence.id) < tuple_(at, id_))
    rows = list(
        await session.scalars(q.order_by(AlertSilence.created_at.desc(), AlertSilence.id.desc()).limit(limit + 1))
    )
    rows, next_cursor = page_of(rows, limit)
    return {"items": [silence_out(s, now) for s in rows], "next_cursor": next_cursor}


async def expire_silence(session: AsyncSession, principal: Principal, silence_id: uuid.UUID) -> None:
    s = await session.scalar(
        select(AlertSilence)
        .where(AlertSilence.id == silence_id, team_clause(principal, AlertSilence.team_id))
        .with_for_update()
    )
    if s is None:
        raise NotFound("No such silence.", code="alert_silence_not_found")
    require_owner(principal, s, "alerts:write", "silence")
    now = datetime.now(UTC)
    if s.ends_at > now:
        s.ends_at = max(now, s.starts_at)
        s.updated_at = now
        audit.record(
            session, "alert_silence.expire", resource_type="alert_silence", resource_id=s.id, team_id=s.team_id,
            summary={"matchers": s.matchers},
        )  # fmt: skip
        await session.flush()


async def list_notifications(session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int) -> dict:
    q = select(AlertNotification).where(team_clause(principal, AlertNotification.team_id))
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(AlertNotification.created_at, AlertNotification.id) < tuple_(at, id_))
    rows = list(
        await session.scalars(
            q.order_by(AlertNotification.created_at.desc(), AlertNotification.id.desc()).limit(limit + 1)
        )
    )
    rows, next_cursor = page_of(rows, limit)
    return {"items": rows, "next_cursor": next_cursor}
