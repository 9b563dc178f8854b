"""Usage anomalies per API key and per user: bursts of requests, tokens or errors against the subject's
own baseline, use outside its usual hours, and a new client IP for a key.

- Rates (requests, tokens = prompt + completion, errors = status >= 400): the current window is the last
  60 minutes; the baseline is the 168 hourly counts before it (7 days, hours without traffic count as 0):
  median and spread = max(1.4826 * MAD, sqrt(median), 0.1 * median, 1). Flagged when
  observed > median + K * spread and observed >= MIN_VOLUME[kind]; score = (observed - median) / spread.
  A subject whose first request is less than HISTORY_MIN before the window has no baseline yet.
- Off-hours: the subject's usual hours (Asia/Seoul) are the hours of day it used on at least 2 distinct
  days of the last 14, once it was active on at least 7 days; before that, business hours 08:00-20:00.
  Flagged when at least OFF_HOURS_MIN requests of the last 60 minutes fall outside them.
- New client IP (keys): an address first seen in the last 60 minutes that the key did not use in the 30
  days before, for a key that has history before the window. Each address is raised once.

One unacknowledged anomaly per (kind, subject): a new finding updates it (observed, expected, score,
last_seen, keys). `keys` (the hour or the address found) stops an acknowledged finding being raised again.
Scores go to the metric history as anomaly_score {kind, subject="api_key:<id>" | "user:<id>"}."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import any_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import require
from axops.core.errors import NotFound
from axops.monitoring import store
from axops.monitoring.drift_models import UsageAnomaly

WINDOW = timedelta(hours=1)
BASELINE_HOURS = 168
HISTORY_MIN = timedelta(hours=24)
K = 4.0
MIN_VOLUME = {"requests": 20, "tokens": 5000, "errors": 10}
ZONE = ZoneInfo("Asia/Seoul")
BUSINESS_HOURS = range(8, 20)
USUAL_DAYS, ACTIVE_DAYS_MIN, HOURS_LOOKBACK_DAYS = 2, 7, 14
OFF_HOURS_MIN = 5
IP_LOOKBACK = timedelta(days=30)
SUBJECT_COLUMNS = {"api_key": "api_key_id", "user": "user_id"}


def baseline(hourly: np.ndarray) -> tuple[float, float]:
    """(median, spread) of hourly counts."""
    median = float(np.median(hourly))
    mad = float(np.median(np.abs(hourly - median)))
    return median, max(1.4826 * mad, math.sqrt(median), 0.1 * median, 1.0)


def usual_hours(days_per_hour: dict[int, int], active_days: int) -> set[int]:
    if active_days < ACTIVE_DAYS_MIN:
        return set(BUSINESS_HOURS)
    return {h for h, days in days_per_hour.items() if days >= USUAL_DAYS}


def _rates_sql(column: str) -> str:
    return f"""
SELECT {column} AS subject,
       CASE WHEN created_at >= :cur THEN -1 ELSE floor(extract(epoch FROM (:cur - created_at)) / 3600)::int END AS b,
       count(*) AS requests, sum(prompt_tokens + completion_tokens) AS tokens,
       count(*) FILTER (WHERE status >= 400) AS errors
FROM usage_records
WHERE created_at >= :since AND created_at < :now AND {column} IN (
    SELECT DISTINCT {column} FROM usage_records WHERE created_at >= :cur AND created_at < :now
)
GROUP BY 1, 2"""


def _first_seen_sql(column: str) -> str:
    return f"""
SELECT {column} AS subject, min(created_at) AS first FROM usage_records
WHERE {column} = ANY(:ids) AND created_at >= :floor GROUP BY 1"""


def _hours_sql(column: str) -> str:
    return f"""
SELECT {column} AS subject, extract(hour FROM created_at AT TIME ZONE 'Asia/Seoul')::int AS h,
       count(DISTINCT (created_at AT TIME ZONE 'Asia/Seoul')::date) FILTER (WHERE created_at < :cur) AS days,
       count(*) FILTER (WHERE created_at >= :cur) AS current
FROM usage_records
WHERE created_at >= :since AND created_at < :now AND {column} = ANY(:ids)
GROUP BY 1, 2"""


_NEW_IPS = text("""
WITH active AS (
    SELECT DISTINCT api_key_id FROM usage_records
    WHERE created_at >= :cur AND created_at < :now AND api_key_id IS NOT NULL AND client_ip IS NOT NULL
)
SELECT u.api_key_id, u.client_ip, min(u.created_at) AS first, count(*) FILTER (WHERE u.created_at >= :cur) AS n
FROM usage_records u JOIN active a ON a.api_key_id = u.api_key_id
WHERE u.created_at >= :since AND u.created_at < :now AND u.client_ip IS NOT NULL
GROUP BY 1, 2""")
_NAMES = {
    "api_key": text("SELECT id, name, user_id FROM api_keys WHERE id = ANY(:ids)"),
    "user": text("SELECT id, username AS name, id AS user_id FROM users WHERE id = ANY(:ids)"),
}


async def _rates(session: AsyncSession, subject_type: str, now: datetime) -> tuple[list[dict], set[uuid.UUID]]:
    """Findings of the rate kinds, and the subjects active in the window."""
    column = SUBJECT_COLUMNS[subject_type]
    cur = now - WINDOW
    params = {"cur": cur, "now": now, "since": cur - timedelta(hours=BASELINE_HOURS)}
    counts: dict[uuid.UUID, dict[str, np.ndarray]] = {}
    current: dict[uuid.UUID, dict[str, float]] = {}
    for r in await session.execute(text(_rates_sql(column)), params):
        if r.b < 0:
            current[r.subject] = {"requests": r.requests, "tokens": float(r.tokens or 0), "errors": r.errors}
            continue
        arrays = counts.setdefault(r.subject, {k: np.zeros(BASELINE_HOURS) for k in MIN_VOLUME})
        for kind in MIN_VOLUME:
            arrays[kind][min(r.b, BASELINE_HOURS - 1)] = float(getattr(r, kind) or 0)
    if not current:
        return [], set()
    first = {
        row.subject: row.first
        for row in await session.execute(
            text(_first_seen_sql(column)), {"ids": list(current), "floor": cur - timedelta(hours=BASELINE_HOURS)}
        )
    }
    findings = []
    for subject, observed in current.items():
        if subject not in counts or first.get(subject, cur) > cur - HISTORY_MIN:
            continue
        for kind, minimum in MIN_VOLUME.items():
            median, spread = baseline(counts[subject][kind])
            value = observed[kind]
            score = max(0.0, (value - median) / spread)
            flagged = value > median + K * spread and value >= minimum
            findings.append(
                {
                    "kind": kind,
                    "subject": subject,
                    "observed": value,
                    "expected": median,
                    "score": round(score, 3),
                    "flagged": flagged,
                    "key": cur.replace(minute=0, second=0, microsecond=0).isoformat(),
                    "detail": {"spread": round(spread, 3), "k": K, "threshold": round(median + K * spread, 3)},
                }
            )
    return findings, set(current)


async def _off_hours(session: AsyncSession, subject_type: str, now: datetime, active: set) -> list[dict]:
    if not active:
        return []
    column = SUBJECT_COLUMNS[subject_type]
    cur = now - WINDOW
    since = cur - timedelta(days=HOURS_LOOKBACK_DAYS)
    days: dict[uuid.UUID, dict[int, int]] = {}
    current: dict[uuid.UUID, dict[int, int]] = {}
    params = {"cur": cur, "now": now, "since": since, "ids": list(active)}
    for r in await session.execute(text(_hours_sql(column)), params):
        days.setdefault(r.subject, {})[r.h] = r.days
        if r.current:
            current.setdefault(r.subject, {})[r.h] = r.current
    active_days_sql = text(
        f"SELECT {column} AS subject, count(DISTINCT (created_at AT TIME ZONE 'Asia/Seoul')::date) AS n "
        f"FROM usage_records WHERE created_at >= :since AND created_at < :cur AND {column} = ANY(:ids) GROUP BY 1"
    )
    active_days = {r.subject: r.n for r in await session.execute(active_days_sql, params)}
    findings = []
    for subject, hours in current.items():
        usual = usual_hours(days.get(subject, {}), active_days.get(subject, 0))
        off = sum(n for h, n in hours.items() if h not in usual)
        hour_key = now.astimezone(ZONE).strftime("%Y-%m-%dT%H")
        findings.append(
            {
                "kind": "off_hours",
                "subject": subject,
                "observed": float(off),
                "expected": 0.0,
                "score": float(off),
                "flagged": off >= OFF_HOURS_MIN,
                "key": hour_key,
                "detail": {
                    "usual_hours": sorted(usual),
                    "learned": active_days.get(subject, 0) >= ACTIVE_DAYS_MIN,
                    "timezone": "Asia/Seoul",
                },
            }
        )
    return findings


async def _new_ips(session: AsyncSession, now: datetime) -> list[dict]:
    cur = now - WINDOW
    per_key: dict[uuid.UUID, list] = {}
    for r in await session.execute(_NEW_IPS, {"cur": cur, "now": now, "since": cur - IP_LOOKBACK}):
        per_key.setdefault(r.api_key_id, []).append(r)
    findings = []
    for key, rows in per_key.items():
        new = [r for r in rows if r.first >= cur]
        if not new or len(new) == len(rows):  # nothing new, or a key with no earlier history
            continue
        for r in new:
            findings.append(
                {
                    "kind": "new_ip",
                    "subject": key,
                    "observed": float(r.n),
                    "expected": 0.0,
                    "score": 1.0,
                    "flagged": True,
                    "key": r.client_ip,
                    "detail": {"ip": r.client_ip, "known_ips": len(rows) - len(new)},
                }
            )
    return findings


async def _names(session: AsyncSession, subject_type: str, ids: set) -> dict:
    if not ids:
        return {}
    return {r.id: r for r in await session.execute(_NAMES[subject_type], {"ids": list(ids)})}


async def _raise(session: AsyncSession, subject_type: str, f: dict, names: dict, now: datetime) -> bool:
    """Store a flagged finding (see the module's dedupe rule); True when a row was added or updated."""
    same = (
        UsageAnomaly.kind == f["kind"],
        UsageAnomaly.subject_type == subject_type,
        UsageAnomaly.subject_id == f["subject"],
    )
    seen = await session.scalar(select(UsageAnomaly.id).where(*same, any_(UsageAnomaly.keys) == f["key"]).limit(1))
    if seen is not None and f["kind"] == "new_ip":
        return False
    open_ = await session.scalar(select(UsageAnomaly).where(*same, UsageAnomaly.acknowledged_at.is_(None)))
    if open_ is None and seen is not None:  # acknowledged already for this hour
        return False
    if open_ is not None:
        open_.observed, open_.expected, open_.score, open_.last_seen = f["observed"], f["expected"], f["score"], now
        if f["key"] not in open_.keys:
            open_.keys = [*open_.keys, f["key"]]
        detail = {**f["detail"]}
        if f["kind"] == "new_ip":
            detail["ips"] = sorted({*open_.detail.get("ips", [open_.detail.get("ip")]), f["key"]} - {None})
        open_.detail = detail
        return True
    who = names.get(f["subject"])
    detail = {**f["detail"], **({"ips": [f["key"]]} if f["kind"] == "new_ip" else {})}
    session.add(
        UsageAnomaly(
            kind=f["kind"],
            subject_type=subject_type,
            subject_id=f["subject"],
            subject_name=(who.name if who else str(f["subject"]))[:200],
            user_id=who.user_id if who else None,
            observed=f["observed"],
            expected=f["expected"],
            score=f["score"],
            keys=[f["key"]],
            detail=detail,
            first_seen=now,
            last_seen=now,
        )
    )
    return True


async def detect(session: AsyncSession, now: datetime | None = None) -> int:
    """The anomaly job: findings for every key and user active in the last hour. Returns how many
    anomalies were raised or updated; the caller commits."""
    now = now or datetime.now(UTC)
    changed = 0
    points: list[store.Point] = []
    for subject_type in SUBJECT_COLUMNS:
        findings, active = await _rates(session, subject_type, now)
        findings += await _off_hours(session, subject_type, now, active)
        if subject_type == "api_key":
            findings += await _new_ips(session, now)
        names = await _names(session, subject_type, {f["subject"] for f in findings if f["flagged"]})
        for f in findings:
            points.append(
                ("anomaly_score", {"kind": f["kind"], "subject": f"{subject_type}:{f['subject']}"}, now, f["score"])
            )
            if f["flagged"]:
                changed += await _raise(session, subject_type, f, names, now)
    await session.flush()
    await store.write(session, points)
    return changed


def _scope(principal: Principal):
    if principal.is_admin or principal.can("gateway:admin"):
        return []
    return [UsageAnomaly.user_id == principal.user_id]


async def list_anomalies(
    session: AsyncSession, principal: Principal, kind: str | None, open_only: bool | None, limit: int
) -> list[UsageAnomaly]:
    """Newest first. Admins and gateway admins see all; others the anomalies of their own user and keys."""
    q = select(UsageAnomaly).where(*_scope(principal))
    if kind:
        q = q.where(UsageAnomaly.kind == kind)
    if open_only is True:
        q = q.where(UsageAnomaly.acknowledged_at.is_(None))
    elif open_only is False:
        q = q.where(UsageAnomaly.acknowledged_at.is_not(None))
    q = q.order_by(UsageAnomaly.last_seen.desc(), UsageAnomaly.id.desc()).limit(limit)
    return list((await session.execute(q)).scalars())


async def acknowledge(session: AsyncSession, principal: Principal, anomaly_id: uuid.UUID) -> UsageAnomaly:
    require(principal, "alerts:write")
    row = await session.scalar(select(UsageAnomaly).where(UsageAnomaly.id == anomaly_id, *_scope(principal)))
    if row is None:
        raise NotFound("No such anomaly.", code="anomaly_not_found")
    if row.acknowledged_at is None:
        row.acknowledged_at, row.acknowledged_by = datetime.now(UTC), principal.user_id
        audit.record(
            session,
            "monitoring.anomaly_acknowledged",
            resource_type="usage_anomaly",
            resource_id=row.id,
            summary={"kind": row.kind, "subject_type": row.subject_type, "subject": row.subject_name},
        )
        await session.flush()
    return row
