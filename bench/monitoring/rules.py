"""Alert rule evaluation benchmark (issue 17 target: 500 rules in <= 1 s per cycle).

    .venv/bin/python bench/monitoring/rules.py

Runs on its own database `axops_bench_rules` on AXOPS_BENCH_DATABASE_URL's server (default the local
PostgreSQL), created, migrated and dropped. The history, written in SQL (generate_series):
- 8 nodes x 8 GPUs: gpu_utilization, gpu_temperature_c, gpu_memory_used_bytes, gpu_memory_total_bytes,
  gpu_power_w every 15 s for 2 hours, gpu_node_up per node;
- 50 gateway routes (organisation-wide routes, so every rule may read them): gateway_requests,
  gateway_server_errors, gateway_prompt_tokens, gateway_completion_tokens, gateway_latency_p95_ms one
  point a minute for 26 hours (what the collector keeps for a minute's usage);
- 20 deployments: deployment_replica_restarts, deployment_replicas_desired, deployment_replicas_max every
  15 s for 1 hour.
The rules: the built-in pack (9), then per-route error-rate, latency and token rules and per-node GPU
rules with windows from 1 to 60 minutes, 500 in all; about a tenth of the label sets breach.

Then BENCH_RULES_CYCLES cycles (default 10) 15 s apart through `alerts.run_cycle` (the first one makes
every alert, later ones update them): time per cycle, p50 and max. Knobs: BENCH_RULES (500)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import psycopg
from sqlalchemy import make_url, select, text

from axops.auth.models import Team
from axops.core.db import Database, libpq_url
from axops.gateway.models import Route
from axops.migrations.runner import upgrade
from axops.monitoring import alert_pack, alerts
from axops.monitoring.alert_models import AlertRule

SERVER = os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "axops_bench_rules"
RULES = int(os.environ.get("BENCH_RULES", "500"))
CYCLES = int(os.environ.get("BENCH_RULES_CYCLES", "10"))
TARGET_S = 1.0
ROUTES = [f"route-{i:02d}" for i in range(50)]


def _series(conn, name: str, labels: list[dict], every_s: int, hours: float, value_sql: str, now) -> None:
    """Points every `every_s` for `hours` up to `now`; value_sql sees i (series index) and t (seconds)."""
    for i, lab in enumerate(labels):
        sid = conn.execute(
            "INSERT INTO metric_series (name, labels) VALUES (%s, %s::jsonb) RETURNING id", (name, json.dumps(lab))
        ).fetchone()[0]
        conn.execute(
            f"""INSERT INTO metric_points (series_id, ts, value)
                SELECT %s, %s - make_interval(secs => t), {value_sql}
                FROM generate_series(0, %s, %s) AS t, (SELECT %s AS i) s""",
            (sid, now, int(hours * 3600), every_s, i),
        )


def fill(url: str, now: dt.datetime) -> int:
    gpus = [{"node": f"node-{n}", "gpu": str(g)} for n in range(8) for g in range(8)]
    nodes = [{"node": f"node-{n}"} for n in range(8)]
    routes = [{"route": r} for r in ROUTES]
    deployments = [{"deployment": f"dep-{d:02d}"} for d in range(20)]
    hot = "(i %% 10 = 0)"  # every tenth label set breaches
    with psycopg.connect(url, autocommit=True) as conn:
        _series(conn, "gpu_utilization", gpus, 15, 2, f"CASE WHEN {hot} THEN 95 ELSE 40 + (t %% 30) END", now)
        _series(conn, "gpu_temperature_c", gpus, 15, 2, f"CASE WHEN {hot} THEN 88 ELSE 60 END", now)
        _series(conn, "gpu_memory_used_bytes", gpus, 15, 2, f"CASE WHEN {hot} THEN 79e9 ELSE 30e9 END", now)
        _series(conn, "gpu_memory_total_bytes", gpus, 15, 2, "80e9", now)
        _series(conn, "gpu_power_w", gpus, 15, 2, "300 + i", now)
        _series(conn, "gpu_node_up", nodes, 15, 2, f"CASE WHEN {hot} THEN 0 ELSE 1 END", now)
        _series(conn, "gateway_requests", routes, 60, 26, "100 + i", now)
        _series(conn, "gateway_server_errors", routes, 60, 26, f"CASE WHEN {hot} THEN 20 ELSE 1 END", now)
        _series(
            conn, "gateway_prompt_tokens", routes, 60, 26, f"CASE WHEN {hot} AND t < 3600 THEN 90000 ELSE 9000 END", now
        )
        _series(conn, "gateway_completion_tokens", routes, 60, 26, "3000", now)
        _series(conn, "gateway_latency_p95_ms", routes, 60, 26, f"CASE WHEN {hot} THEN 7000 ELSE 800 END", now)
        _series(
            conn,
            "deployment_replica_restarts",
            deployments,
            15,
            1,
            f"CASE WHEN {hot} THEN 100 - t / 60 ELSE 1 END",
            now,
        )
        _series(conn, "deployment_replicas_desired", deployments, 15, 1, "4", now)
        _series(conn, "deployment_replicas_max", deployments, 15, 1, f"CASE WHEN {hot} THEN 4 ELSE 8 END", now)
        conn.execute("ANALYZE")
        return conn.execute("SELECT count(*) FROM metric_points").fetchone()[0]


def rule_specs(n: int) -> list[dict]:
    specs = [dict(p) for p in alert_pack.PACK]
    windows = ["1m", "5m", "10m", "15m", "30m", "1h"]
    k = 0
    while len(specs) < n:
        w = windows[k % len(windows)]
        route = ROUTES[k % len(ROUTES)]
        node = f"node-{k % 8}"
        kind = k % 5
        if kind == 0:
            expr = f'sum(gateway_server_errors{{route="{route}"}}[{w}]) / sum(gateway_requests{{route="{route}"}}[{w}]) > 0.1'
        elif kind == 1:
            expr = f'max(gateway_latency_p95_ms{{route="{route}"}}[{w}]) > 5000'
        elif kind == 2:
            expr = f'avg(gpu_utilization{{node="{node}"}}[{w}]) >= 90'
        elif kind == 3:
            expr = f'max(gpu_temperature_c{{node="{node}"}}[{w}]) - min(gpu_temperature_c{{node="{node}"}}[{w}]) > 10 or last(gpu_temperature_c{{node="{node}"}}[{w}]) >= 85'
        else:
            expr = f"sum(gateway_prompt_tokens[{w}]) + sum(gateway_completion_tokens[{w}]) > 1000000"
        specs.append({"name": f"rule-{k}", "expression": expr, "for": "1m" if k % 2 else "0s",
                      "severity": "warning", "group_by": ["node"] if kind in (2, 3) else ["route"]})  # fmt: skip
        k += 1
    return specs[:n]


async def run(url: str) -> dict:
    db = Database(url, pool_size=2)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        t0 = time.perf_counter()
        points = await asyncio.to_thread(fill, libpq_url(url), now)
        print(f"history: {points:,} points in {time.perf_counter() - t0:.1f} s", flush=True)
        async with db.sessionmaker() as session:
            team = (await session.scalars(select(Team))).first()
            for r in ROUTES:
                session.add(Route(model_name=r, visibility="organization"))
            for spec in rule_specs(RULES):
                session.add(
                    AlertRule(
                        team_id=team.id, name=spec["name"], description="", expression=spec["expression"],
                        for_s=0 if spec["for"] == "0s" else 60, severity=spec["severity"], labels={}, annotations={},
                        group_by=spec["group_by"], repeat_s=4 * 3600, channel_ids=[], enabled=True,
                    )
                )  # fmt: skip
            await session.commit()
        timings, cpu, last = [], [], None
        for c in range(CYCLES):
            at = now + dt.timedelta(seconds=15 * c)
            async with db.sessionmaker() as session:
                t0, c0 = time.perf_counter(), time.process_time()
                last = await alerts.run_cycle(session, at)
                await session.commit()
                timings.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print(
                f"cycle {c}: {timings[-1] * 1000:.0f} ms, this process's CPU {cpu[-1] * 1000:.0f} ms (rules {last.rules}, firing {last.firing}, "
                f"pending {last.pending}, notifications {last.notifications}, errors {last.errors})",
                flush=True,
            )
        async with db.sessionmaker() as session:
            specs = (await session.execute(text("SELECT count(*) FROM alerts"))).scalar_one()
        return {
            "rules": RULES,
            "points": points,
            "alerts": specs,
            "first_cycle_ms": round(timings[0] * 1000),
            "steady_p50_ms": round(statistics.median(timings[1:]) * 1000) if len(timings) > 1 else None,
            "steady_max_ms": round(max(timings[1:]) * 1000) if len(timings) > 1 else None,
            "min_ms": round(min(timings) * 1000),
            "python_cpu_p50_ms": round(statistics.median(cpu) * 1000),
            "load_average": os.getloadavg()[0],
            "firing": last.firing if last else 0,
        }
    finally:
        await db.dispose()


def main() -> None:
    admin = libpq_url(SERVER)
    url = make_url(admin).set(database=DB_NAME).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    try:
        upgrade(url)
        result = asyncio.run(run(url))
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    worst = max(result["first_cycle_ms"], result["steady_max_ms"] or 0) / 1000
    verdict = "meets" if worst <= TARGET_S else "MISSES"
    print(f"\n{RULES} rules: first cycle {result['first_cycle_ms']} ms, then p50 {result['steady_p50_ms']} ms, "
          f"max {result['steady_max_ms']} ms per cycle (min {result['min_ms']} ms; engine CPU p50 "
          f"{result['python_cpu_p50_ms']} ms; load average {result['load_average']:.1f} on {os.cpu_count()} cores) "
          f"— {verdict} the {TARGET_S:.0f} s target")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
