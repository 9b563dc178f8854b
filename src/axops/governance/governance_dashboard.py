"""The governance dashboard: violations per policy and kind, the users' activity by weekday and hour
(Asia/Seoul, from the audit log), recent high-risk prompts (masked excerpts of guardrail blocks) and the
compliance checklist as it stands now. Tables of other governance parts are read only if they exist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.governance import reports
from axops.settings import Settings


async def heatmap(session: AsyncSession, start: datetime, end: datetime) -> list[list[int]]:
    """[weekday (0 Monday), hour, count] for every cell with events, in Seoul time."""
    rows = await session.execute(
        text(
            "SELECT (extract(isodow FROM created_at AT TIME ZONE 'Asia/Seoul')::int - 1), "
            "extract(hour FROM created_at AT TIME ZONE 'Asia/Seoul')::int, count(*) FROM audit_events "
            "WHERE created_at >= :s AND created_at < :e AND actor_type <> 'system' GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        {"s": start, "e": end},
    )
    return [[int(d), int(h), int(n)] for d, h, n in rows]


async def _high_risk(session: AsyncSession, start: datetime, end: datetime) -> list[dict] | None:
    if (await session.execute(text("SELECT to_regclass('guardrail_decisions')"))).scalar_one() is None:
        return None
    columns = await reports._table_columns(session, "guardrail_decisions")
    excerpt = reports._first(columns, "masked_excerpt", "excerpt", "snippet")
    action = reports._first(columns, "action", "decision", "verdict")
    if excerpt is None or action is None or "created_at" not in columns:
        return []
    rows = await session.execute(
        text(
            f'SELECT created_at, "{action}"::text, "{excerpt}"::text FROM guardrail_decisions '
            f"WHERE created_at >= :s AND created_at < :e AND \"{action}\"::text IN ('block', 'blocked', 'deny') "
            "ORDER BY created_at DESC LIMIT 20"
        ),
        {"s": start, "e": end},
    )
    return [{"at": at, "action": a, "excerpt": (x or "")[:200]} for at, a, x in rows]


async def build(session: AsyncSession, settings: Settings, start: datetime, end: datetime) -> dict:
    sections = await reports.gather(session, settings, start, end)
    violations = await reports._grouped(session, "violations", start, end, (("kind", "policy_name"), ("severity",)))
    return {
        "start": start,
        "end": end,
        "violations": [
            {"policy": str(r[0]), "kind": str(r[1]) if len(r) > 2 else "", "count": int(r[-1])}
            for r in (violations or {}).get("rows", [])
        ],
        "violations_recorded": violations is not None,
        "heatmap": await heatmap(session, start, end),
        "high_risk": await _high_risk(session, start, end) or [],
        "high_risk_recorded": sections["guardrails"] is not None,
        "checklist": sections["checklist"],
    }
