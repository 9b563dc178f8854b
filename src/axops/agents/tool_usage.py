"""The agents' side of tool analytics (`tools.usage.agent_usage`, filled at import): which agents call
which tools (calls, success rate), and the (masked) inputs of the latest runs that called each tool,
from which the tools domain counts task keywords. A run counts when both the tool's team and the
run's team are in the caller's scope, so no other team's agent names or inputs show."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.tools import keywords, usage
from axops.tools.schemas import AgentToolStats

_SCOPE = """c.created_at >= now() - make_interval(days => :days)
          AND c.agent_run_id IS NOT NULL
          AND (CAST(:teams AS uuid[]) IS NULL OR (c.team_id = ANY(CAST(:teams AS uuid[]))
               AND r.team_id = ANY(CAST(:teams AS uuid[]))))"""

_MATRIX = text(
    f"""
    SELECT r.agent_id, a.name AS agent_name, c.tool_id, t.name AS tool_name,
           count(*) AS calls, count(*) FILTER (WHERE c.status = 'ok') AS ok
    FROM tool_calls c
    JOIN agent_runs r ON r.id = c.agent_run_id
    JOIN agents a ON a.id = r.agent_id
    JOIN tools t ON t.id = c.tool_id
    WHERE {_SCOPE}
    GROUP BY r.agent_id, a.name, c.tool_id, t.name
    ORDER BY calls DESC, a.name, t.name
    LIMIT 2000
    """
)

_RUNS = text(
    f"""
    WITH per AS (
        SELECT c.tool_id, c.agent_run_id, max(c.created_at) AS at
        FROM tool_calls c JOIN agent_runs r ON r.id = c.agent_run_id
        WHERE {_SCOPE}
        GROUP BY c.tool_id, c.agent_run_id
    ), ranked AS (
        SELECT tool_id, agent_run_id, row_number() OVER (PARTITION BY tool_id ORDER BY at DESC) AS rn FROM per
    )
    SELECT tool_id, agent_run_id FROM ranked WHERE rn <= :n
    """
)

_INPUTS = text("SELECT id, input FROM agent_runs WHERE id = ANY(CAST(:ids AS uuid[]))")


async def agent_tool_usage(session: AsyncSession, teams: list[uuid.UUID] | None, days: int, n: int) -> usage.AgentUsage:
    params = {"days": days, "teams": teams}
    matrix = [
        AgentToolStats(
            agent_id=r.agent_id,
            agent_name=r.agent_name,
            tool_id=r.tool_id,
            tool_name=r.tool_name,
            calls=r.calls,
            ok=r.ok,
            success_rate=round(r.ok / r.calls, 4) if r.calls else 0.0,
        )
        for r in (await session.execute(_MATRIX, params)).all()
    ]
    tool_runs: dict[uuid.UUID, list[uuid.UUID]] = {}
    for r in (await session.execute(_RUNS, {**params, "n": n})).all():
        tool_runs.setdefault(r.tool_id, []).append(r.agent_run_id)

    async def run_texts(ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = (await session.execute(_INPUTS, {"ids": ids})).all()
        return {r.id: keywords.user_text(r.input) for r in rows}

    return usage.AgentUsage(matrix=matrix, tool_runs=tool_runs, run_texts=run_texts)


usage.agent_usage.append(agent_tool_usage)
