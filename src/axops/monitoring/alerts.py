"""The alert engine: one evaluation cycle over every enabled rule.

A cycle reads every rule's windows of the metric history in ONE query (aggregates per series and
window, computed in PostgreSQL), evaluates the expressions in Python, and moves each label set's alert
through inactive → pending (condition true) → firing (true for the rule's `for`) → resolved (false
again); a pending alert whose condition clears is dropped. Alerts are deduplicated by fingerprint (rule
id + sorted labels) and grouped by the rule's `group_by` labels: a group is notified when one of its
alerts starts firing, when one resolves, and again every `repeat_s` while one fires un-acknowledged.
Silenced alerts are kept (and shown as silenced) but never notified. At most FLOOD_LIMIT notifications
per rule and cycle: the groups past that are folded into one overflow notification."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.models import Team
from axops.core.ids import uuid7
from axops.gateway.models import Route
from axops.monitoring import alert_rules
from axops.monitoring.alert_models import Alert, AlertNotification, AlertRule, AlertSilence
from axops.monitoring.notifications import AlertItem, Notification
from axops.serving.models import Deployment

log = logging.getLogger("axops.monitoring.alerts")

FLOOD_LIMIT = 50  # notifications per rule per cycle
MAX_ALERTS_PER_NOTIFICATION = 100  # alerts listed in one payload; the rest are counted in `omitted`
MAX_ALERTS_PER_RULE = 2000  # label sets holding at once (alert rows) per rule
RESOLVED_KEEP = timedelta(days=30)
ROLLUP_FROM = 6 * 3600  # windows this long read whole minutes from the minute rollups
_PARSED: dict[str, alert_rules.Parsed] = {}

# A window's count, sum, min and max: raw points, except that a long window reads its whole minutes below the
# minute rollup's watermark, [r0, r1), from metric_points_1m (r0 = r1 for short windows); first and last
# point from the raw points (two index look-ups).
_WINDOWS = text("""
WITH specs AS (
    SELECT * FROM jsonb_to_recordset(CAST(:specs AS jsonb))
        AS r(i int, name text, t0 timestamptz, t1 timestamptz, r0 timestamptz, r1 timestamptz)
)
SELECT sp.i, s.id, s.labels, a.n, a.total, a.lo, a.hi, f.value, l.value
FROM specs sp
JOIN metric_series s ON s.name = sp.name
CROSS JOIN LATERAL (
    SELECT sum(n) AS n, sum(total) AS total, min(lo) AS lo, max(hi) AS hi FROM (
        SELECT count AS n, sum AS total, min AS lo, max AS hi
        FROM metric_points_1m m WHERE m.series_id = s.id AND m.bucket >= sp.r0 AND m.bucket < sp.r1
        UNION ALL
        SELECT count(*), sum(value), min(value), max(value)
        FROM metric_points p WHERE p.series_id = s.id AND p.ts >= sp.t0 AND p.ts < sp.r0
        UNION ALL
        SELECT count(*), sum(value), min(value), max(value)
        FROM metric_points p WHERE p.series_id = s.id AND p.ts >= sp.r1 AND p.ts < sp.t1
    ) parts
) a
CROSS JOIN LATERAL (
    SELECT value FROM metric_points p WHERE p.series_id = s.id AND p.ts >= sp.t0 AND p.ts < sp.t1
    ORDER BY ts LIMIT 1
) f
CROSS JOIN LATERAL (
    SELECT value FROM metric_points p WHERE p.series_id = s.id AND p.ts >= sp.t0 AND p.ts < sp.t1
    ORDER BY ts DESC LIMIT 1
) l
""")


def parsed(expression: str) -> alert_rules.Parsed:
    """Parsed expressions are kept: rules change rarely and a cycle runs every 15 seconds."""
    hit = _PARSED.get(expression)
    if hit is None:
        if len(_PARSED) > 5000:
            _PARSED.clear()
        hit = _PARSED[expression] = alert_rules.parse(expression)
    return hit


async def read_windows(
    session: AsyncSession, ranges: list[alert_rules.Range], now: datetime
) -> dict[tuple, alert_rules.Window]:
    """Aggregates (count, sum, min, max, first, last) of every series of each range's name over its
    window, all ranges in one statement."""
    keys = sorted({r.key for r in ranges})
    if not keys:
        return {}
    rolled = await session.scalar(text("SELECT at FROM metric_watermarks WHERE source = 'rollup_1m'"))
    specs = []
    for i, (name, win, off) in enumerate(keys):
        t0, t1 = now - timedelta(seconds=off + win), now - timedelta(seconds=off)
        r0 = r1 = t0
        if win >= ROLLUP_FROM and rolled is not None:
            r0 = t0 + timedelta(seconds=-t0.timestamp() % 60)  # the first whole minute
            r1 = max(r0, min(t1 - timedelta(seconds=t1.timestamp() % 60), rolled))
        specs.append(
            {"i": i, "name": name, **{k: v.isoformat() for k, v in (("t0", t0), ("t1", t1), ("r0", r0), ("r1", r1))}}
        )
    windows: dict[tuple, alert_rules.Window] = {k: alert_rules.Window() for k in keys}
    for i, sid, labels, n, total, lo, hi, first, last in await session.execute(
        _WINDOWS, {"specs": orjson.dumps(specs).decode()}
    ):
        windows[keys[i]].rows[sid] = (labels, float(n), total, lo, hi, first, last)
    return windows


async def team_series_checks(session: AsyncSession):
    """Per team, which series its rules may read: those of its own or organisation-wide gateway routes
    and its deployments (series with neither label are the platform's), as monitoring/scope.py shows them."""
    routes = (await session.execute(select(Route.model_name, Route.team_id, Route.visibility))).all()
    deployments = (await session.execute(select(Deployment.name, Deployment.team_id))).all()
    cache: dict = {}

    def for_team(team_id):
        if team_id not in cache:
            mine_routes = {n for n, t, v in routes if v == "organization" or t == team_id}
            mine_deployments = {n for n, t in deployments if t == team_id}

            def allowed(labels: dict) -> bool:
                route, deployment = labels.get("route"), labels.get("deployment")
                return (route is None or route in mine_routes) and (
                    deployment is None or deployment in mine_deployments
                )

            cache[team_id] = allowed
        return cache[team_id]

    return for_team


def fingerprint(rule_id, labels: dict) -> str:
    raw = orjson.dumps([str(rule_id), labels], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:32]


def full_labels(rule: AlertRule, team_name: str, labels: dict) -> dict[str, str]:
    """An alert's labels as silences and notifications see them."""
    return {**labels, **(rule.labels or {}), "alertname": rule.name, "severity": rule.severity, "team": team_name}


def silence_matches(matchers: list[dict], labels: dict) -> bool:
    return all((labels.get(m["name"], "") == m["value"]) == (m.get("op", "=") == "=") for m in matchers)


_TEMPLATE = re.compile(r"\{\{\s*(value|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}")


def render(template: str, value: float | None, labels: dict) -> str:
    """{{value}} and {{labels.x}} replaced once (a label's text is never expanded again); nothing else."""

    def sub(m: re.Match) -> str:
        if m.group(1) == "value":
            return "" if value is None else f"{value:.4g}"
        return str(labels.get(m.group(2), ""))

    return _TEMPLATE.sub(sub, template)


@dataclass
class CycleResult:
    rules: int = 0
    firing: int = 0
    pending: int = 0
    notifications: int = 0
    errors: int = 0
    seconds: float = 0.0
    notification_ids: list = field(default_factory=list)


async def run_cycle(session: AsyncSession, now: datetime, rule_ids: list | None = None) -> CycleResult:
    """Evaluate the enabled rules (or only `rule_ids`) at `now`; the caller commits, then dispatches."""
    started = time.perf_counter()
    result = CycleResult()
    q = select(AlertRule).where(AlertRule.enabled.is_(True))
    if rule_ids is not None:
        q = q.where(AlertRule.id.in_(rule_ids))
    rules = list(await session.scalars(q))
    result.rules = len(rules)
    if not rules:
        return result
    trees: dict = {}
    for rule in rules:
        try:
            trees[rule.id] = parsed(rule.expression)
        except alert_rules.ExpressionError as exc:
            rule.last_error, rule.last_evaluated_at = exc.detail, now
            result.errors += 1
    windows = await read_windows(session, [r for t in trees.values() for r in t.ranges], now)
    ids = list(trees)
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({r.team_id for r in rules})))).all()
    )
    open_alerts: dict = {}
    for alert in await session.scalars(select(Alert).where(Alert.rule_id.in_(ids), Alert.state != "resolved")):
        open_alerts.setdefault(alert.rule_id, {})[alert.fingerprint] = alert
    silences: dict = {}
    for s in await session.scalars(
        select(AlertSilence).where(AlertSilence.starts_at <= now, AlertSilence.ends_at > now)
    ):
        silences.setdefault(s.team_id, []).append(s.matchers)

    checks = await team_series_checks(session)
    dropped: list = []
    for rule in rules:
        tree = trees.get(rule.id)
        if tree is None:
            continue
        try:
            samples = alert_rules.evaluate(tree.root, windows, checks(rule.team_id))
        except (ArithmeticError, ValueError) as exc:  # overflow and the like: the rule, not the cycle, fails
            rule.last_error, rule.last_evaluated_at = f"evaluation failed: {type(exc).__name__}", now
            result.errors += 1
            continue
        holding = [x for x in samples if x.ok]
        if len(holding) > MAX_ALERTS_PER_RULE:  # a runaway label set: keep a stable share, say so on the rule
            holding.sort(key=lambda x: sorted(x.labels.items()))
            samples = holding[:MAX_ALERTS_PER_RULE]
            rule.last_error = f"{len(holding)} label sets hold; only the first {MAX_ALERTS_PER_RULE} are alerts"
        elif rule.last_error is not None:
            rule.last_error = None
        alerts = _step(session, rule, samples, open_alerts.get(rule.id, {}), now, dropped)
        team_name = teams.get(rule.team_id, "")
        team_silences = silences.get(rule.team_id, [])
        for alert in alerts:
            alert.silenced = any(silence_matches(m, full_labels(rule, team_name, alert.labels)) for m in team_silences)
        result.firing += sum(a.state == "firing" for a in alerts)
        result.pending += sum(a.state == "pending" for a in alerts)
        for note in _notifications(rule, team_name, alerts, now):
            session.add(note)
            result.notification_ids.append(note.id)
    await session.flush()
    if dropped:
        await session.execute(delete(Alert).where(Alert.id.in_(dropped)).execution_options(synchronize_session=False))
    # every evaluated rule and open alert stamped in two statements, not one UPDATE a row
    evaluated = [r.id for r in rules if r.id in trees]
    await session.execute(
        text("UPDATE alert_rules SET last_evaluated_at = :now WHERE id = ANY(:ids)"), {"now": now, "ids": evaluated}
    )
    await session.execute(
        text("UPDATE alerts SET evaluated_at = :now WHERE rule_id = ANY(:ids) AND state <> 'resolved'"),
        {"now": now, "ids": evaluated},
    )
    result.notifications = len(result.notification_ids)
    if now.minute == 0 and now.second < 15:  # about once an hour: old episodes go
        await session.execute(
            text("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < :before"),
            {"before": now - RESOLVED_KEEP},
        )
    result.seconds = time.perf_counter() - started
    return result


def _step(
    session: AsyncSession, rule: AlertRule, samples: list, open_: dict, now: datetime, dropped: list
) -> list[Alert]:
    """Move the rule's alerts one cycle on; returns those open now plus those resolved now. Pending
    alerts whose condition cleared are added to `dropped` (to be deleted)."""
    seen: dict[str, alert_rules.Sample] = {}
    for s in samples:
        if s.ok:
            seen.setdefault(fingerprint(rule.id, s.labels), s)
    touched: list[Alert] = []
    for fp, s in seen.items():
        alert = open_.get(fp)
        if alert is None:
            alert = Alert(
                id=uuid7(),
                rule_id=rule.id,
                team_id=rule.team_id,
                fingerprint=fp,
                labels=s.labels,
                state="pending",
                started_at=now,
                silenced=False,
            )
            session.add(alert)
        if alert.value != s.value:
            alert.value = s.value
        if alert.evaluated_at is None:
            alert.evaluated_at = now  # a new one; open ones are stamped in one statement per cycle
        if alert.state == "pending" and now - alert.started_at >= timedelta(seconds=rule.for_s):
            alert.state, alert.fired_at = "firing", now
        touched.append(alert)
    for fp, alert in open_.items():
        if fp in seen:
            continue
        if alert.state == "pending":
            dropped.append(alert.id)  # never fired: back to inactive, nothing to keep
        else:
            alert.state, alert.resolved_at, alert.evaluated_at = "resolved", now, now
            touched.append(alert)
    return touched


def _group_key(rule: AlertRule, labels: dict) -> str:
    return (
        f"{rule.id}:"
        + orjson.dumps({k: labels.get(k, "") for k in rule.group_by or []}, option=orjson.OPT_SORT_KEYS).decode()
    )


def _notifications(rule: AlertRule, team_name: str, alerts: list[Alert], now: datetime) -> list[AlertNotification]:
    repeat = timedelta(seconds=rule.repeat_s)
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        if a.silenced or a.state not in ("firing", "resolved"):
            continue
        if a.state == "resolved" and a.notified_at is None:
            continue  # never told it fired: nothing to resolve
        groups.setdefault(_group_key(rule, a.labels), []).append(a)
    due = []
    for key in sorted(groups):
        members = groups[key]
        if any(
            a.state == "resolved" or a.notified_at is None or (a.acked_at is None and now - a.notified_at >= repeat)
            for a in members
        ):
            due.append((key, members))
    if len(due) > FLOOD_LIMIT:
        folded = [a for _, members in due[FLOOD_LIMIT - 1 :] for a in members]
        due = [*due[: FLOOD_LIMIT - 1], (f"{rule.id}:overflow", folded)]
    notes = []
    for key, members in due:
        members.sort(key=lambda a: (a.state != "firing", a.started_at))
        status = "firing" if any(a.state == "firing" for a in members) else "resolved"
        shown = members[:MAX_ALERTS_PER_NOTIFICATION]
        note = Notification(
            group_key=key,
            rule_id=str(rule.id),
            rule_name=rule.name,
            team=team_name,
            severity=rule.severity,
            status=status,
            alerts=[_item(rule, team_name, a) for a in shown],
            url=f"/alerts?rule={rule.id}",
        )
        payload = note.to_json()
        payload["omitted"] = len(members) - len(shown)
        for a in members:
            if a.state == "firing":
                a.notified_at = now
        notes.append(
            AlertNotification(
                id=uuid7(),
                team_id=rule.team_id,
                rule_id=rule.id,
                group_key=key,
                status=status,
                channel_ids=list(rule.channel_ids or []),
                payload=payload,
                created_at=now,
            )
        )
    return notes


def _item(rule: AlertRule, team_name: str, a: Alert) -> AlertItem:
    labels = full_labels(rule, team_name, a.labels)
    annotations = {k: render(str(v), a.value, labels) for k, v in (rule.annotations or {}).items()}
    annotations.setdefault("summary", f"{rule.name}: {a.value:.4g}" if a.value is not None else rule.name)
    if rule.description:
        annotations.setdefault("description", rule.description)
    return AlertItem(
        fingerprint=a.fingerprint,
        labels=labels,
        annotations=annotations,
        state=a.state,
        value=a.value,
        starts_at=a.fired_at or a.started_at,
        ends_at=a.resolved_at,
    )
