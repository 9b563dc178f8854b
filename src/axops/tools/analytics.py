"""Tool analytics over `tool_calls`: per tool calls, success rate, latency percentiles, cost share and
error kinds, counted by the server over the whole window and scoped to the caller's teams."""

from __future__ import annotations

import json

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import User
from axops.auth.scoping import team_ids_param
from axops.core.pagination import page_of, paginate_desc
from axops.tools.models import ToolCall
from axops.tools.schemas import ToolAnalytics, ToolCallOut, ToolCallPage, ToolStats

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


async def recent_calls(
    session: AsyncSession, principal: Principal, tool_id, *, cursor: str | None = None, limit: int = 50
) -> ToolCallPage:
    """A tool's calls, newest first, with the caller's username (the tool is read with the caller's scope first)."""
    from axops.tools import service

    tool = await service.get_tool(session, principal, tool_id)
    query = (
        select(ToolCall, User.username)
        .outerjoin(User, User.id == ToolCall.caller_id)
        .where(ToolCall.tool_id == tool.id)
    )
    rows = list((await session.execute(paginate_desc(query, ToolCall.created_at, ToolCall.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit, key=lambda r: (r[0].created_at, r[0].id))
    return ToolCallPage(
        items=[
            ToolCallOut(
                id=c.id,
                version=c.version,
                status=c.status,
                error_kind=c.error_kind,
                latency_ms=c.latency_ms,
                cost=c.cost,
                agent_run_id=c.agent_run_id,
                caller_id=c.caller_id,
                caller_name=username,
                created_at=c.created_at,
            )
            for c, username in rows
        ],
        next_cursor=next_cursor,
    )
