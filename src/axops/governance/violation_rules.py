"""The detection rules of violations: their settings (defaults merged with the administrator's) and the
detectors, each a query over the audit log or the gateway's usage records between two instants.

A detector returns findings: one per subject, with the events new since the last run (`new`), the
events in the rule's window (`total`) and evidence made of ids and counts only, never prompt text."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

KINDS = ("blocked_prompts", "restricted_downloads", "off_hours", "new_network", "privilege_change")

DEFAULTS: dict[str, dict[str, Any]] = {
    "blocked_prompts": {
        "enabled": True,
        "severity": "warning",
        "threshold": 5,
        "window_minutes": 10,
        "codes": ["guardrail_blocked", "policy_denied"],
    },
    "restricted_downloads": {
        "enabled": True,
        "severity": "critical",
        "threshold": 20,
        "window_minutes": 60,
        "levels": ["restricted"],
    },
    "off_hours": {"enabled": True, "severity": "info", "start_hour": 8, "end_hour": 20, "timezone": "Asia/Seoul"},
    "new_network": {"enabled": True, "severity": "warning", "lookback_days": 30},
    "privilege_change": {"enabled": True, "severity": "warning"},
    "auto_suspend": {"enabled": False, "threshold": 3, "window_days": 30},
}

OFF_HOURS_ACTIONS = ("auth.login", "model.download", "dataset.read_rows")
# role changes, access and guardrail policies, and these very rules
PRIVILEGE_PATTERNS = (
    "user.role_change",
    "policies.%",
    "policy.%",
    "access_policy.%",
    "access_policies.%",
    "guardrail%",
    "violation_rules.%",
)
MAX_IDS = 10  # ids kept as evidence per violation


@dataclass
class Finding:
    kind: str
    subject_type: str  # user | apikey
    subject_id: str
    new: int
    total: int
    first: datetime
    last: datetime
    evidence: dict[str, Any] = field(default_factory=dict)


def merged(stored: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Every rule's settings: the defaults with the stored values over them."""
    return {kind: {**default, **stored.get(kind, {})} for kind, default in DEFAULTS.items()}


def _like(code: str) -> str:
    return "%" + code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def blocked_prompts(session: AsyncSession, cfg: dict, since: datetime, until: datetime) -> list[Finding]:
    """A key refused (guardrail or access policy: status 400/403 with the code in the error) at least
    `threshold` times in `window_minutes`, counted for keys refused since the last run."""
    match = "u.status IN (400, 403) AND u.error LIKE ANY(:patterns)"
    rows = await session.execute(
        text(f"""
        WITH recent AS (
            SELECT DISTINCT api_key_id FROM usage_records u
            WHERE u.created_at > :since AND u.created_at <= :until AND u.api_key_id IS NOT NULL AND {match}
        )
        SELECT u.api_key_id, count(*) AS total, count(*) FILTER (WHERE u.created_at > :since) AS new,
               min(u.created_at) AS first, max(u.created_at) AS last,
               (array_agg(u.request_id ORDER BY u.created_at DESC) FILTER (WHERE u.request_id IS NOT NULL))[1:10]
                 AS request_ids,
               array_agg(u.error) AS errors
        FROM usage_records u JOIN recent r ON r.api_key_id = u.api_key_id
        WHERE u.created_at > :start AND u.created_at <= :until AND {match}
        GROUP BY u.api_key_id HAVING count(*) >= :threshold
        """),
        {
            "since": since,
            "until": until,
            "start": until - timedelta(minutes=cfg["window_minutes"]),
            "threshold": cfg["threshold"],
            "patterns": [_like(c) for c in cfg["codes"]],
        },
    )
    found = []
    for r in rows:
        codes = {c: sum(1 for e in r.errors if e and c in e) for c in cfg["codes"]}
        evidence = {
            "window_minutes": cfg["window_minutes"],
            "threshold": cfg["threshold"],
            "codes": {c: n for c, n in codes.items() if n},
            "request_ids": list(r.request_ids or []),
        }
        found.append(Finding("blocked_prompts", "apikey", str(r.api_key_id), r.new, r.total, r.first, r.last, evidence))
    return found


async def restricted_downloads(session: AsyncSession, cfg: dict, since: datetime, until: datetime) -> list[Finding]:
    """A user downloaded data of a listed sensitivity at least `threshold` times in `window_minutes`."""
    match = (
        "a.actor_id IS NOT NULL AND a.summary->>'sensitivity' = ANY(:levels) AND (a.action = 'model.download' "
        "OR (a.action = 'dataset.read_rows' AND a.summary->>'what' = 'download'))"
    )
    rows = await session.execute(
        text(f"""
        WITH recent AS (
            SELECT DISTINCT actor_id FROM audit_events a
            WHERE a.created_at > :since AND a.created_at <= :until AND {match}
        )
        SELECT a.actor_id, count(*) AS total, count(*) FILTER (WHERE a.created_at > :since) AS new,
               min(a.created_at) AS first, max(a.created_at) AS last,
               (array_agg(DISTINCT a.resource_type || ':' || a.resource_id))[1:10] AS resources
        FROM audit_events a JOIN recent r ON r.actor_id = a.actor_id
        WHERE a.created_at > :start AND a.created_at <= :until AND {match}
        GROUP BY a.actor_id HAVING count(*) >= :threshold
        """),
        {
            "since": since,
            "until": until,
            "start": until - timedelta(minutes=cfg["window_minutes"]),
            "threshold": cfg["threshold"],
            "levels": list(cfg["levels"]),
        },
    )
    return [
        Finding(
            "restricted_downloads",
            "user",
            str(r.actor_id),
            r.new,
            r.total,
            r.first,
            r.last,
            {"window_minutes": cfg["window_minutes"], "threshold": cfg["threshold"], "resources": r.resources},
        )
        for r in rows
    ]


async def off_hours(session: AsyncSession, cfg: dict, since: datetime, until: datetime) -> list[Finding]:
    """Logins and downloads by a user outside business hours in the configured time zone."""
    rows = await session.execute(
        text("""
        SELECT actor_id, count(*) AS n, min(created_at) AS first, max(created_at) AS last,
               jsonb_object_agg(action, 1) AS actions, (array_agg(id::text ORDER BY created_at DESC))[1:10] AS ids
        FROM audit_events
        WHERE created_at > :since AND created_at <= :until AND actor_id IS NOT NULL AND outcome = 'success'
          AND action = ANY(:actions)
          AND NOT (extract(hour FROM created_at AT TIME ZONE :tz) >= :start
                   AND extract(hour FROM created_at AT TIME ZONE :tz) < :end)
        GROUP BY actor_id
        """),
        {
            "since": since,
            "until": until,
            "actions": list(OFF_HOURS_ACTIONS),
            "tz": cfg["timezone"],
            "start": cfg["start_hour"],
            "end": cfg["end_hour"],
        },
    )
    hours = f"{cfg['start_hour']:02d}-{cfg['end_hour']:02d} {cfg['timezone']}"
    return [
        Finding(
            "off_hours",
            "user",
            str(r.actor_id),
            r.n,
            r.n,
            r.first,
            r.last,
            {"business_hours": hours, "actions": sorted(r.actions), "event_ids": r.ids},
        )
        for r in rows
    ]


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) an address is in; None for what isn't an address."""
    try:
        addr = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 64}", strict=False))


async def new_network(session: AsyncSession, cfg: dict, since: datetime, until: datetime) -> list[Finding]:
    """A key used from a network (/24, /64) it was not used from in the `lookback_days` before. A key
    with no earlier use has no baseline and is not reported."""
    recent = await session.execute(
        text("""
        SELECT api_key_id, client_ip, count(*) AS n, min(created_at) AS first, max(created_at) AS last
        FROM usage_records WHERE created_at > :since AND created_at <= :until
          AND api_key_id IS NOT NULL AND client_ip IS NOT NULL
        GROUP BY api_key_id, client_ip
        """),
        {"since": since, "until": until},
    )
    now_seen: dict[uuid.UUID, dict[str, list]] = {}
    for r in recent:
        if (net := network_of(r.client_ip)) is None:
            continue
        entry = now_seen.setdefault(r.api_key_id, {}).setdefault(net, [0, r.first, r.last])
        entry[0] += r.n
        entry[1], entry[2] = min(entry[1], r.first), max(entry[2], r.last)
    if not now_seen:
        return []
    before = await session.execute(
        text("""
        SELECT DISTINCT api_key_id, client_ip FROM usage_records
        WHERE api_key_id = ANY(:keys) AND created_at > :start AND created_at <= :since AND client_ip IS NOT NULL
        """),
        {"keys": list(now_seen), "start": since - timedelta(days=cfg["lookback_days"]), "since": since},
    )
    known: dict[uuid.UUID, set[str]] = {}
    for r in before:
        if (net := network_of(r.client_ip)) is not None:
            known.setdefault(r.api_key_id, set()).add(net)
    found = []
    for key_id, nets in now_seen.items():
        if key_id not in known:
            continue
        fresh = {net: v for net, v in nets.items() if net not in known[key_id]}
        if not fresh:
            continue
        n = sum(v[0] for v in fresh.values())
        first = min(v[1] for v in fresh.values())
        last = max(v[2] for v in fresh.values())
        evidence = {"networks": sorted(fresh)[:MAX_IDS], "known_networks": len(known[key_id])}
        found.append(Finding("new_network", "apikey", str(key_id), n, n, first, last, evidence))
    return found


async def privilege_change(session: AsyncSession, cfg: dict, since: datetime, until: datetime) -> list[Finding]:
    """Role changes and access, guardrail or detection policy changes, per user who made them."""
    rows = await session.execute(
        text("""
        SELECT actor_id, count(*) AS n, min(created_at) AS first, max(created_at) AS last,
               jsonb_object_agg(action, 1) AS actions, (array_agg(id::text ORDER BY created_at DESC))[1:10] AS ids
        FROM audit_events
        WHERE created_at > :since AND created_at <= :until AND actor_id IS NOT NULL AND actor_type <> 'system'
          AND outcome = 'success' AND action LIKE ANY(:patterns)
        GROUP BY actor_id
        """),
        {"since": since, "until": until, "patterns": list(PRIVILEGE_PATTERNS)},
    )
    return [
        Finding(
            "privilege_change",
            "user",
            str(r.actor_id),
            r.n,
            r.n,
            r.first,
            r.last,
            {"actions": sorted(r.actions), "event_ids": r.ids},
        )
        for r in rows
    ]


DETECTORS = {
    "blocked_prompts": blocked_prompts,
    "restricted_downloads": restricted_downloads,
    "off_hours": off_hours,
    "new_network": new_network,
    "privilege_change": privilege_change,
}
