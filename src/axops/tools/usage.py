"""Tool analytics (`GET /api/tool/analytics`): per tool calls, success rate, p50/p95 latency, error kinds
and cost, the agent × tool matrix and each tool's task keywords, over a window of days and the caller's
teams (a `team_id` narrows to one of them). Counted by PostgreSQL over the whole window.

Cost of a tool = its own price (`tool_calls.cost`: the tool's `cost_per_call`, charged when the tool
was reached) + the model cost attributed to it (`tool_calls.model_cost`: in an agent run, the cost of
the model step whose answer asked for the call, split evenly among every call of that answer, a call
to an unknown tool included, whose share is then nobody's). `cost_share` is a tool's part of the
total over every tool in the window and scope.

The agent parts live with the agents (a layer above): they fill `agent_usage` at import
(`agents/tool_usage.py`); without it the answer has no matrix and no keywords. A run's keywords are
analysed once, when it ends, and stored (`agent_runs.keywords`), so they are counted in SQL: kiwipiepy
at query time made an answer over 5,000 runs take 2.4–7 s (bench/agents/analytics.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.errors import NotFound
from axops.tools.schemas import AgentToolStats, ToolAnalytics, ToolKeywords, ToolStats

KEYWORD_RUNS = 500  # a tool's latest agent calls whose runs' keywords are counted
TOP_KEYWORDS = 10


@dataclass
class AgentUsage:
    """What the agents domain reports: the agent × tool matrix and each tool's task keywords."""

    matrix: list[AgentToolStats] = field(default_factory=list)
    keywords: list[ToolKeywords] = field(default_factory=list)


# (session, teams or None for every team, days, keyword runs per tool, top keywords) -> AgentUsage
agent_usage: list[Callable[[AsyncSession, list[uuid.UUID] | None, int, int, int], Awaitable[AgentUsage]]] = []

# One pass: with enough work_mem PostgreSQL hashes the 20-odd tool groups and sorts each group's
# latencies in memory; at the default 4 MB it sorts every row of the window by tool on disk (~5x slower).
_WORK_MEM = text("SET LOCAL work_mem = '64MB'")
_SQL = text(
    """
    WITH g AS (
        SELECT tool_id, count(*) AS calls, count(*) FILTER (WHERE status = 'ok') AS ok,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
               coalesce(sum(cost), 0) AS cost, coalesce(sum(model_cost), 0) AS model_cost,
               array_agg(error_kind) FILTER (WHERE error_kind IS NOT NULL) AS kinds
        FROM tool_calls
        WHERE created_at >= now() - make_interval(days => :days)
          AND (CAST(:teams AS uuid[]) IS NULL OR team_id = ANY(CAST(:teams AS uuid[])))
        GROUP BY tool_id
    )
    SELECT t.id, t.name, t.kind, t.team_id, g.calls, g.ok, g.p50, g.p95, g.cost, g.model_cost,
           sum(g.cost + g.model_cost) OVER () AS total_cost,
           sum(g.calls) OVER () AS total_calls,
           coalesce((SELECT jsonb_object_agg(k, n) FROM (SELECT k, count(*) AS n FROM unnest(g.kinds) k GROUP BY k) x)::text,
                    '{}') AS error_kinds
    FROM g JOIN tools t ON t.id = g.tool_id
    ORDER BY g.calls DESC, t.name
    LIMIT 500
    """
)


def _scope(principal: Principal, team_id: uuid.UUID | None) -> list[uuid.UUID] | None:
    teams = team_ids_param(principal)
    if team_id is None:
        return teams
    if teams is not None and team_id not in teams:
        raise NotFound("No such team.", code="team_not_found", team_id=str(team_id))
    return [team_id]


async def tool_analytics(
    session: AsyncSession, principal: Principal, *, days: int = 30, team_id: uuid.UUID | None = None
) -> ToolAnalytics:
    teams = _scope(principal, team_id)
    await session.execute(_WORK_MEM)
    rows = (await session.execute(_SQL, {"days": days, "teams": teams})).all()
    total_cost = float(rows[0].total_cost) if rows else 0.0
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
            cost=round(r.cost, 9),
            model_cost=round(r.model_cost, 9),
            total_cost=round(r.cost + r.model_cost, 9),
            cost_share=round((r.cost + r.model_cost) / total_cost, 4) if total_cost else 0.0,
            error_kinds=json.loads(r.error_kinds),
        )
        for r in rows
    ]
    usage = AgentUsage()
    for provider in agent_usage:
        usage = await provider(session, teams, days, KEYWORD_RUNS, TOP_KEYWORDS)
    return ToolAnalytics(
        days=days,
        calls=int(rows[0].total_calls) if rows else 0,
        total_cost=round(total_cost, 9),
        items=items,
        agents=usage.matrix,
        keywords=usage.keywords,
    )
