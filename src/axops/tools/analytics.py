"""Tool analytics over `tool_calls`: per tool calls, success rate, latency percentiles, cost share and
error kinds, counted by the server over the whole window and scoped to the caller's teams."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.tools.schemas import ToolAnalytics, ToolStats

_SQL = text(
    """
    WITH c AS (
        SELECT tool_id, status, error_kind, latency_ms, cost
        FROM tool_calls
        WHERE created_at >= now() - make_interval(days => :days)
          AND (CAST(:teams AS uuid[]) IS NULL OR team_id = ANY(CAST(:teams AS uuid[])))
    ), kinds AS (
        SELECT tool_id, jsonb_object_agg(error_kind, n) AS error_kinds
        FROM (SELECT tool_id, error_kind, count(*) AS n FROM c WHERE error_kind IS NOT NULL GROUP BY 1, 2) k
        GROUP BY tool_id
    )
    SELECT t.id, t.name, t.kind, t.team_id,
           count(*) AS calls,
           count(*) FILTER (WHERE c.status = 'ok') AS ok,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY c.latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY c.latency_ms) AS p95,
           coalesce(sum(c.cost), 0) AS cost,
           coalesce(max(kinds.error_kinds::text), '{}') AS error_kinds
    FROM c JOIN tools t ON t.id = c.tool_id
    LEFT JOIN kinds ON kinds.tool_id = c.tool_id
    GROUP BY t.id, t.name, t.kind, t.team_id
    ORDER BY calls DESC, t.name
    LIMIT 500
    """
)


async def tool_analytics(session: AsyncSession, principal: Principal, *, days: int = 30) -> ToolAnalytics:
    rows = (await session.execute(_SQL, {"days": days, "teams": team_ids_param(principal)})).all()
    total_cost = sum(r.cost for r in rows)
    items = [
        ToolStats(
            tool_id=r.id,
            name=r.name,
            kind=r.kind,
            team_id=r.team_id,
            calls=r.calls,
            ok=r.ok,
            success_rate=round(r.ok / r.calls, 4) if r.calls else 0.0,
            p50_ms=round(r.p50, 3) if r.p50 is not None else None,
            p95_ms=round(r.p95, 3) if r.p95 is not None else None,
            cost=r.cost,
            cost_share=round(r.cost / total_cost, 4) if total_cost else 0.0,
            error_kinds=json.loads(r.error_kinds),
        )
        for r in rows
    ]
    return ToolAnalytics(days=days, calls=sum(i.calls for i in items), items=items)
