"""SLO and model dashboard benchmark: a route with BENCH_SLO_REQUESTS usage records spread over 30 days,
then the reads people and the SLO task make: one SLO's standing (availability and success), the models
list, and the route's dashboard over 24 h, 7 days and 30 days.

    .venv/bin/python bench/monitoring/slos.py

Runs on its own database `axops_bench_slos` on AXOPS_BENCH_DATABASE_URL's server (default the local
PostgreSQL), created, migrated and dropped. Knobs: BENCH_SLO_REQUESTS (1,000,000), BENCH_SLO_ROUNDS (5).
Results are printed and written to bench/monitoring/slos_results.json. No target of the issue applies
directly (its 100 ms is for stored-series panels); the figures say how the request-level reads scale."""

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
from sqlalchemy import make_url, text

from axops.auth.scoping import SYSTEM
from axops.core import partitions
from axops.core.db import Database, libpq_url
from axops.migrations.runner import upgrade
from axops.monitoring import collector, model_dashboard, slos
from axops.monitoring.slo_models import Slo

SERVER = os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "axops_bench_slos"
REQUESTS = int(os.environ.get("BENCH_SLO_REQUESTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_SLO_ROUNDS", "5"))


def fill(url: str, now: dt.datetime) -> float:
    """REQUESTS records of route `bench-chat` over the last 30 days (1 in 200 a 5xx), in SQL."""
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for back in (2, 1, 0):  # the months 30 days reach (the app makes these partitions when it starts)
            first = (now.replace(day=1) - dt.timedelta(days=28 * back)).replace(day=1).date()
            after = (first + dt.timedelta(days=32)).replace(day=1)
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{partitions.partition_name("usage_records", first)}" PARTITION OF '
                f"usage_records FOR VALUES FROM ('{first}') TO ('{after}')"
            )
        conn.execute(
            """INSERT INTO gateway_routes (id, model_name, description, strategy, targets, fallbacks, timeout_s,
                   cache_ttl_s, enabled, visibility, created_at, updated_at)
               VALUES (gen_random_uuid(), 'bench-chat', '', 'weighted', '[]', '[]', 60, 0, true, 'organization',
                   now(), now())"""
        )
        conn.execute(
            """INSERT INTO usage_records (created_at, endpoint, model, upstream, stream, status, prompt_tokens,
                   completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
               SELECT %(now)s - (i * (interval '30 days' / %(n)s)), 'chat', 'bench-chat',
                      CASE WHEN i %% 3 = 0 THEN 'v2' ELSE 'v1' END, false,
                      CASE WHEN i %% 200 = 0 THEN 502 ELSE 200 END, 100, 200, 0.001, 50 + (i %% 997), 1, 'off', 0
               FROM generate_series(1, %(n)s) AS i""",
            {"now": now, "n": REQUESTS},
        )
        conn.execute("ANALYZE usage_records")
    return round(time.perf_counter() - began, 1)


async def timed(fn) -> dict:
    timings = []
    for r in range(ROUNDS + 1):
        t0 = time.perf_counter()
        await fn()
        if r:
            timings.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(timings), 1), "max_ms": round(max(timings), 1)}


async def collect(db: Database, now: dt.datetime) -> float:
    """The collector's per-minute history of the 30 days, as a month of `monitoring:collect_metrics` runs leaves it."""
    began = time.perf_counter()
    async with db.sessionmaker() as session:
        await session.execute(
            text("INSERT INTO metric_watermarks (source, at) VALUES ('gateway', :at)"),
            {"at": now - dt.timedelta(days=30, minutes=1)},
        )
        for _ in range(31):  # 24 h per run; the last one also writes the minute still filling
            await collector.collect_gateway(session, now)
            await session.commit()
    return round(time.perf_counter() - began, 1)


async def run(url: str, now: dt.datetime) -> dict:
    db = Database(url, pool_size=2)
    results = {}
    try:
        async with db.sessionmaker() as session:
            for kind in ("availability", "success"):
                slo = Slo(id=None, route="bench-chat", kind=kind, target=99.5, window="rolling_30d")
                results[f"slo_status_{kind}_30d_from_requests"] = await timed(
                    lambda slo=slo: slos.status(session, slo, now)
                )
        results["collect_30d_s"] = await collect(db, now)
        async with db.sessionmaker() as session:
            for kind in ("availability", "success"):
                slo = Slo(id=None, route="bench-chat", kind=kind, target=99.5, window="rolling_30d")
                results[f"slo_status_{kind}_30d_from_history"] = await timed(
                    lambda slo=slo: slos.status(session, slo, now)
                )
            results["sla_report_month_exact"] = await timed(
                lambda: slos.measure(session, "bench-chat", now - dt.timedelta(days=30), now, exact=True)
            )
            results["models_list_24h"] = await timed(lambda: model_dashboard.list_models(session, SYSTEM, now))
            for days in (1, 7, 30):
                start = now - dt.timedelta(days=days)
                results[f"dashboard_{days}d"] = await timed(
                    lambda start=start: model_dashboard.dashboard(session, SYSTEM, "bench-chat", start, now, None, now)
                )
            for k, v in results.items():
                print(f"  {k}: {v}", flush=True)
    finally:
        await db.dispose()
    return results


def main() -> None:
    admin = libpq_url(SERVER)
    url = make_url(admin).set(database=DB_NAME).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    try:
        upgrade(url)
        fill_s = fill(libpq_url(url), now)
        print(f"{REQUESTS} usage records over 30 days: {fill_s} s", flush=True)
        results = asyncio.run(run(url, now))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    out = {"when": now.isoformat(), "requests": REQUESTS, "rounds": ROUNDS, "fill_s": fill_s, "results": results}
    (Path(__file__).parent / "slos_results.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
