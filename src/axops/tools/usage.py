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
kept in process once analysed (a stored run's input never changes): kiwipiepy over 5,000 runs took
~2 s a request in bench/agents/analytics.py, the SQL ~0.5 s."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter, OrderedDict
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
CACHED_RUNS = 50_000


async def _no_texts(ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {}


@dataclass
class AgentUsage:
    """What the agents domain reports: matrix cells, per tool the latest runs' ids, and how to read the
    user text of runs (only those whose keywords are not known yet are read)."""

    matrix: list[AgentToolStats] = field(default_factory=list)
    tool_runs: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    run_texts: Callable[[list[uuid.UUID]], Awaitable[dict[uuid.UUID, str]]] = _no_texts


class _RunWords:
    """Keywords per run id, least recently used dropped past CACHED_RUNS."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[uuid.UUID, frozenset[str]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, run_id: uuid.UUID) -> frozenset[str] | None:
        with self.lock:
            found = self.items.get(run_id)
            if found is not None:
                self.items.move_to_end(run_id)
            return found

    def put(self, run_id: uuid.UUID, words: frozenset[str]) -> None:
        with self.lock:
            self.items[run_id] = words
            self.items.move_to_end(run_id)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_run_words = _RunWords(CACHED_RUNS)


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


def _analyse(texts: dict[uuid.UUID, str]) -> dict[uuid.UUID, frozenset[str]]:
    out = {}
    for run_id, t in texts.items():
        out[run_id] = frozenset(keywords.words(t))
        _run_words.put(run_id, out[run_id])
    return out


async def _keywords(usage: AgentUsage) -> list[ToolKeywords]:
    """Each run's text is analysed once, however many tools it called (kiwipiepy is the slow part)."""
    ids = {run_id for runs in usage.tool_runs.values() for run_id in runs}
    per_run = {run_id: w for run_id in ids if (w := _run_words.get(run_id)) is not None}
    missing = [run_id for run_id in ids if run_id not in per_run]
    if missing:
        texts = await usage.run_texts(missing)
        per_run.update(await asyncio.to_thread(_analyse, texts))
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
    kw = await _keywords(usage) if usage.tool_runs else []
    return ToolAnalytics(
        days=days,
        calls=int(rows[0].total_calls) if rows else 0,
        total_cost=round(total_cost, 9),
        items=items,
        agents=usage.matrix,
        keywords=kw,
    )
