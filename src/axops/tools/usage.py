"""Tool analytics (`GET /api/tool/analytics`): per tool calls, success rate, p50/p95 latency, error kinds
and cost, the agent × tool matrix and each tool's task keywords, over a window of days and the caller's
teams (a `team_id` narrows to one of them). Counted by PostgreSQL over the whole window.

Cost of a tool = its own price (`tool_calls.cost`: the tool's `cost_per_call`, charged when the tool
was reached) + the model cost attributed to it (`tool_calls.model_cost`: in an agent run, the cost of
the model step whose answer asked for the call, split evenly among every call of that answer, a call
to an unknown tool included, whose share is then nobody's). `cost_share` is a tool's part of the
total over every tool in the window and scope.

The agent parts live with the agents (a layer above): they fill `agent_usage` at import
(`agents/tool_usage.py`); without it the answer has no matrix and no keywords."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.errors import NotFound
from axops.tools import keywords
from axops.tools.schemas import AgentToolStats, Keyword, ToolAnalytics, ToolKeywords, ToolStats

KEYWORD_RUNS = 500  # the latest runs per tool read for keywords
TOP_KEYWORDS = 10


@dataclass
class AgentUsage:
    """What the agents domain reports: matrix cells, and per tool the latest runs' ids with each run's text."""

    matrix: list[AgentToolStats] = field(default_factory=list)
    tool_runs: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    run_texts: dict[uuid.UUID, str] = field(default_factory=dict)


# (session, teams or None for every team, days, keyword runs per tool) -> AgentUsage
agent_usage: list[Callable[[AsyncSession, list[uuid.UUID] | None, int, int], Awaitable[AgentUsage]]] = []

_SQL = text(
    """
    WITH c AS (
        SELECT tool_id, status, error_kind, latency_ms, cost, model_cost
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
           coalesce(sum(c.model_cost), 0) AS model_cost,
           sum(sum(c.cost + c.model_cost)) OVER () AS total_cost,
           sum(count(*)) OVER () AS total_calls,
           coalesce(max(kinds.error_kinds::text), '{}') AS error_kinds
    FROM c JOIN tools t ON t.id = c.tool_id
    LEFT JOIN kinds ON kinds.tool_id = c.tool_id
    GROUP BY t.id, t.name, t.kind, t.team_id
    ORDER BY calls DESC, t.name
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


def _keywords(usage: AgentUsage) -> list[ToolKeywords]:
    """Each run's text is analysed once, however many tools it called (kiwipiepy is the slow part)."""
    per_run = {run_id: set(keywords.words(t)) for run_id, t in usage.run_texts.items()}
    out = []
    for tool_id, run_ids in usage.tool_runs.items():
        counts: Counter[str] = Counter()
        for run_id in run_ids:
            counts.update(per_run.get(run_id, ()))
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_KEYWORDS]
        out.append(
            ToolKeywords(tool_id=tool_id, runs=len(run_ids), keywords=[Keyword(word=w, count=n) for w, n in best])
        )
    return out


async def tool_analytics(
    session: AsyncSession, principal: Principal, *, days: int = 30, team_id: uuid.UUID | None = None
) -> ToolAnalytics:
    teams = _scope(principal, team_id)
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
        usage = await provider(session, teams, days, KEYWORD_RUNS)
    kw = await asyncio.to_thread(_keywords, usage) if usage.run_texts else []
    return ToolAnalytics(
        days=days,
        calls=int(rows[0].total_calls) if rows else 0,
        total_cost=round(total_cost, 9),
        items=items,
        agents=usage.matrix,
        keywords=kw,
    )
