"""Tool analytics query time (`GET /api/tool/analytics`'s service, tools/usage.py) over many calls.

A scratch database on a PostgreSQL server (BENCH_DATABASE_URL, default the local test server), migrated
to head, holding one team, 20 tools, 10 agents, BENCH_RUNS agent runs (Korean and English inputs) and
BENCH_CALLS tool calls over the last 30 days, each made by one INSERT ... SELECT generate_series. The runs
are inserted without keywords (`agent_runs.keywords` NULL, as rows that predate migration 0045): the first
answer analyses the latest runs per tool with kiwipiepy and stores their keywords (`backfill_ms`, once).
Then `usage.tool_analytics` runs BENCH_REPEAT times as an Admin (every team) and narrowed to the team, each
series on a fresh connection pool; reported: the whole answer (per tool stats, the agent × tool matrix, keywords
over the latest 500 runs per tool) cold (the first answer on new connections) and warm (median, p95 and
max of the others), and the per tool stats query and the agents' query alone (medians).
The scratch database is dropped at the end.

    .venv/bin/python bench/agents/analytics.py    # knobs: BENCH_CALLS (100000), BENCH_RUNS (5000), BENCH_REPEAT (10)
Results: bench/agents/analytics_results.json (BENCH_OUT to write elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text
from sqlalchemy.engine import make_url

from axops.agents import tool_usage  # (the matrix and keywords, as the app registers them)
from axops.auth.scoping import SYSTEM
from axops.core.db import Database
from axops.migrations import runner
from axops.pii import persons
from axops.tools import usage

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CALLS = int(os.environ.get("BENCH_CALLS", "100000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "10"))
INPUTS = [
    "서울 날씨를 알려줘",
    "이번 달 매출 보고서를 요약해줘",
    "환율을 계산하고 송금 수수료를 알려줘",
    "고객 주문 상태를 확인해줘",
    "Summarise the quarterly revenue report",
    "Convert the invoice total to euros",
    "Find the shipping status of order 1234",
    "회의록에서 결정 사항을 정리해줘",
]

SEED = """
INSERT INTO teams (id, name, description, is_default, created_at, updated_at)
VALUES (:team, 'bench', '', false, now(), now());
INSERT INTO tools (id, team_id, name, kind, description, latest_version, requires_approval, timeout_s, allow_hosts,
                   visibility, cost_per_call, created_at, updated_at)
SELECT gen_random_uuid(), :team, 'tool_' || g, 'http', '', 1, false, 30, '{}', 'team', (g % 4) * 0.001, now(), now()
FROM generate_series(1, 20) g;
INSERT INTO agents (id, name, description, team_id, visibility, latest_version, created_at, updated_at)
SELECT gen_random_uuid(), 'agent_' || g, '', :team, 'team', 1, now(), now() FROM generate_series(1, 10) g;
"""

RUNS_SQL = """
WITH a AS (SELECT id, row_number() OVER (ORDER BY name) - 1 AS i FROM agents)
INSERT INTO agent_runs (id, agent_id, version, team_id, status, source, input, steps, prompt_tokens,
                        completion_tokens, cost, latency_ms, created_at, finished_at)
SELECT gen_random_uuid(), a.id, 1, :team, 'succeeded', 'api',
       jsonb_build_array(jsonb_build_object('role', 'user', 'content',
           (CAST(:inputs AS text[]))[1 + g % cardinality(CAST(:inputs AS text[]))] || ' #' || g)),
       3, 30, 30, 0.06, 1000, now() - make_interval(secs => g * 30), now()
FROM generate_series(1, :runs) g JOIN a ON a.i = g % 10
"""

CALLS_SQL = """
WITH t AS (SELECT id, cost_per_call, row_number() OVER (ORDER BY name) - 1 AS i FROM tools),
     r AS (SELECT id, row_number() OVER (ORDER BY created_at) - 1 AS i FROM agent_runs)
INSERT INTO tool_calls (id, tool_id, version, team_id, agent_run_id, status, error_kind, latency_ms, cost, model_cost,
                        created_at)
SELECT gen_random_uuid(), t.id, 1, :team, r.id,
       CASE WHEN g % 10 = 0 THEN 'error' ELSE 'ok' END,
       CASE WHEN g % 10 = 0 THEN (ARRAY['timeout', 'tool_error', 'invalid_arguments'])[1 + g % 3] END,
       5 + (g % 997) * 0.7, t.cost_per_call, 0.0005 * (1 + g % 3),
       now() - make_interval(secs => (g % (30 * 86400)))
FROM generate_series(1, :calls) g
JOIN t ON t.i = abs(hashtext(g::text)) % 20
JOIN r ON r.i = g % :runs
"""


async def timed(awaitable) -> tuple[float, object]:
    start = time.perf_counter()
    out = await awaitable
    return (time.perf_counter() - start) * 1000, out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


async def answer(db: Database, team_id: uuid.UUID | None, team: uuid.UUID) -> tuple[float, float, float, object]:
    """One answer, then the stats and the agents' query alone in the same kind of transaction (ms)."""
    async with db.sessionmaker() as session:
        ms, out = await timed(usage.tool_analytics(session, SYSTEM, days=30, team_id=team_id))
        await session.commit()
    async with db.sessionmaker() as session:
        teams = [team] if team_id else None
        await session.execute(usage._WORK_MEM)
        stats_ms, _ = await timed(session.execute(usage._SQL, {"days": 30, "teams": teams}))
        agents_ms, _ = await timed(tool_usage.agent_tool_usage(session, teams, 30, usage.KEYWORD_RUNS, 10))
        await session.commit()
    return ms, stats_ms, agents_ms, out


async def bench(url: str) -> dict:
    db = Database(url, pool_size=2)
    team = uuid.uuid4()
    try:
        async with db.sessionmaker() as session:
            for statement in SEED.strip().split(";\n"):
                await session.execute(text(statement), {"team": team})
            await session.execute(text(RUNS_SQL), {"team": team, "inputs": INPUTS, "runs": RUNS})
            start = time.perf_counter()
            await session.execute(text(CALLS_SQL), {"team": team, "runs": RUNS, "calls": CALLS})
            insert_s = time.perf_counter() - start
            await session.commit()
        # the steady state autovacuum keeps (it runs after inserts too): the visibility map set, so the
        # per tool stats read ix_tool_calls_tool_id_latency_ms alone
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE tool_calls"))
            await conn.execute(text("VACUUM ANALYZE agent_runs"))
    finally:
        await db.dispose()
    persons.warm()
    out: dict = {"calls": CALLS, "runs": RUNS, "tools": 20, "agents": 10, "insert_s": round(insert_s, 2)}
    db = Database(url, pool_size=2)
    try:
        backfill_ms, *_ = await answer(db, None, team)
    finally:
        await db.dispose()
    out["backfill_ms"] = round(backfill_ms, 1)
    for label, team_id in (("admin", None), ("team", team)):
        whole, stats_only, agents_only = [], [], []
        db = Database(url, pool_size=2)  # the first answer on new connections: cold
        try:
            for _ in range(REPEAT):
                ms, stats_ms, agents_ms, result = await answer(db, team_id, team)
                whole.append(ms)
                stats_only.append(stats_ms)
                agents_only.append(agents_ms)
        finally:
            await db.dispose()
        assert result.calls == CALLS and len(result.items) == 20 and result.agents and result.keywords
        assert all(k.keywords for k in result.keywords)
        out[label] = {
            "cold_ms": round(whole[0], 1),
            "warm_median_ms": round(statistics.median(whole[1:]), 1),
            "warm_p95_ms": round(p95(whole[1:]), 1),
            "warm_max_ms": round(max(whole[1:]), 1),
            "stats_query_median_ms": round(statistics.median(stats_only), 1),
            "agents_query_median_ms": round(statistics.median(agents_only), 1),
            "matrix_cells": len(result.agents),
            "keyword_runs": sum(k.runs for k in result.keywords),
        }
    return out


def main() -> None:
    name = f"axops_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        runner.upgrade(url)
        result = asyncio.run(bench(url))
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))
    target = Path(os.environ.get("BENCH_OUT", Path(__file__).parent / "analytics_results.json"))
    target.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
