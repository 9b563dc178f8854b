"""The agents' side of tool analytics (`tools.usage.agent_usage`, filled at import): which agents call
which tools (calls, success rate), and each tool's task keywords: the words stored on the runs behind
its latest calls (`agent_runs.keywords`, set when a run ends; a run counted once a tool), in SQL. A run
counts when both the tool's team and the run's team are in the caller's scope, so no other team's agent
names or inputs show.

The matrix is one pass over the window's agent calls; the latest calls per tool are read backwards on
(tool_id, created_at), at most `runs` a tool, so keywords cost the same whatever the window holds.
A run not analysed yet (keywords NULL: it has not ended, or it predates migration 0045) is analysed
here once and stored, so the next answer counts it in SQL."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.tools import keywords, usage
from axops.tools.schemas import AgentToolStats, Keyword, ToolKeywords

MATRIX_CELLS = 2000

_SQL = text(
    """
    WITH m AS (
        SELECT r.agent_id, c.tool_id, count(*) AS calls, count(*) FILTER (WHERE c.status = 'ok') AS ok
        FROM tool_calls c JOIN agent_runs r ON r.id = c.agent_run_id
        WHERE c.created_at >= now() - make_interval(days => :days)
          AND c.agent_run_id IS NOT NULL
          AND (CAST(:teams AS uuid[]) IS NULL OR (c.team_id = ANY(CAST(:teams AS uuid[]))
               AND r.team_id = ANY(CAST(:teams AS uuid[]))))
        GROUP BY r.agent_id, c.tool_id
    ), latest AS MATERIALIZED (
        SELECT DISTINCT t.id AS tool_id, x.agent_run_id, x.keywords
        FROM tools t CROSS JOIN LATERAL (
            SELECT c.agent_run_id, r.keywords
            FROM tool_calls c JOIN agent_runs r ON r.id = c.agent_run_id
            WHERE c.tool_id = t.id
              AND c.created_at >= now() - make_interval(days => :days)
              AND c.agent_run_id IS NOT NULL
              AND (CAST(:teams AS uuid[]) IS NULL OR r.team_id = ANY(CAST(:teams AS uuid[])))
            ORDER BY c.created_at DESC
            LIMIT :runs
        ) x
        WHERE CAST(:teams AS uuid[]) IS NULL OR t.team_id = ANY(CAST(:teams AS uuid[]))
    ), words AS (
        SELECT tool_id, word, count(*) AS n,
               row_number() OVER (PARTITION BY tool_id ORDER BY count(*) DESC, word COLLATE "C") AS rn
        FROM latest CROSS JOIN unnest(keywords) AS word
        GROUP BY tool_id, word
    )
    (SELECT 'm' AS part, m.agent_id AS id, a.name AS agent_name, m.tool_id, t.name AS tool_name,
            m.calls, m.ok, CAST(NULL AS text) AS word
     FROM m JOIN agents a ON a.id = m.agent_id JOIN tools t ON t.id = m.tool_id
     ORDER BY m.calls DESC, a.name, t.name
     LIMIT :cells)
    UNION ALL
    (SELECT 'k', CAST(NULL AS uuid), CAST(NULL AS text), k.tool_id, CAST(NULL AS text), k.runs, w.n, w.word
     FROM (SELECT tool_id, count(*) AS runs FROM latest GROUP BY tool_id) k
     LEFT JOIN words w ON w.tool_id = k.tool_id AND w.rn <= :top
     ORDER BY k.runs DESC, k.tool_id, w.rn)
    UNION ALL
    (SELECT DISTINCT 'r', agent_run_id, CAST(NULL AS text), CAST(NULL AS uuid), CAST(NULL AS text),
            CAST(NULL AS bigint), CAST(NULL AS bigint), CAST(NULL AS text)
     FROM latest WHERE keywords IS NULL)
    """
)

_UNANALYSED = text(
    "SELECT id, input FROM agent_runs WHERE id = ANY(CAST(:ids AS uuid[])) AND keywords IS NULL ORDER BY id FOR UPDATE"
)
_STORE = text(
    """
    UPDATE agent_runs r SET keywords = ARRAY(SELECT jsonb_array_elements_text(v.value))
    FROM jsonb_each(CAST(:words AS jsonb)) v
    WHERE r.id = CAST(v.key AS uuid)
    """
)


def _analyse(inputs: list[tuple[uuid.UUID, object]]) -> dict[str, list[str]]:
    return {str(run_id): keywords.of_input(value) for run_id, value in inputs}


async def analyse_runs(session: AsyncSession, run_ids: list[uuid.UUID]) -> None:
    """Stores the keywords of these runs that have none yet (rows locked in id order: two answers
    filling the same runs at once wait for each other instead of deadlocking)."""
    rows = (await session.execute(_UNANALYSED, {"ids": run_ids})).all()
    if rows:
        words = await asyncio.to_thread(_analyse, [(r.id, r.input) for r in rows])
        await session.execute(_STORE, {"words": json.dumps(words, ensure_ascii=False)})


async def agent_tool_usage(
    session: AsyncSession, teams: list[uuid.UUID] | None, days: int, runs: int, top: int
) -> usage.AgentUsage:
    params = {"days": days, "teams": teams, "runs": runs, "top": top, "cells": MATRIX_CELLS}
    rows = (await session.execute(_SQL, params)).all()
    missing = [r.id for r in rows if r.part == "r"]
    if missing:
        await analyse_runs(session, missing)
        rows = (await session.execute(_SQL, params)).all()
    matrix = [
        AgentToolStats(
            agent_id=r.id,
            agent_name=r.agent_name,
            tool_id=r.tool_id,
            tool_name=r.tool_name,
            calls=r.calls,
            ok=r.ok,
            success_rate=round(r.ok / r.calls, 4) if r.calls else 0.0,
        )
        for r in rows
        if r.part == "m"
    ]
    by_tool: dict[uuid.UUID, ToolKeywords] = {}
    for r in rows:
        if r.part == "k":
            entry = by_tool.setdefault(r.tool_id, ToolKeywords(tool_id=r.tool_id, runs=r.calls, keywords=[]))
            if r.word is not None:
                entry.keywords.append(Keyword(word=r.word, count=r.ok))
    return usage.AgentUsage(matrix=matrix, keywords=list(by_tool.values()))


usage.agent_usage.append(agent_tool_usage)
