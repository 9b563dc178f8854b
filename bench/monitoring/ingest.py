"""Metric history benchmark: 1,000 series at a 15 s interval for 30 simulated days, then the
dashboard panels' queries through `store.query`.

    make bench-monitoring       (or: .venv/bin/python bench/monitoring/ingest.py)

Runs on its own database `axops_bench_monitoring` on AXOPS_BENCH_DATABASE_URL's server (default the
local PostgreSQL, postgresql://postgres@127.0.0.1:5432/postgres), created, migrated and dropped.

What is written, as the store keeps it after 30 days (raw 2 days, minute rollups 30, hour 400):
1. raw points for the last RAW_HOURS through `store.write`, one collection cycle (1,000 points at one
   15 s stamp) per call, exactly as the collector writes them: the ingest rate and the time per cycle;
2. `store.rollup` over those hours (the collector's rollup, with a wider look-back);
3. the older minute and hour rollups, generated in SQL (`generate_series`): what 30 days of cycles and
   rollups would have left, without spending hours replaying them.

Then each query kind QUERY_ROUNDS times (after one warm-up): p50 and p99 (target p99 <= 100 ms).
Knobs: BENCH_MON_SERIES (1000: 10 names x 100 label sets), BENCH_MON_DAYS (30), BENCH_MON_RAW_HOURS (48),
BENCH_MON_MINUTE_DAYS (8), BENCH_MON_ROUNDS (50), BENCH_KEEP_DB=1 to keep the database.
Results are printed and written to bench/monitoring/ingest_results.json."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import psycopg
from sqlalchemy import make_url, text

from axops.core.db import Database, libpq_url
from axops.migrations.runner import upgrade
from axops.monitoring import store

SERVER = os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "axops_bench_monitoring"
SERIES = int(os.environ.get("BENCH_MON_SERIES", "1000"))
DAYS = int(os.environ.get("BENCH_MON_DAYS", "30"))
RAW_HOURS = int(os.environ.get("BENCH_MON_RAW_HOURS", "48"))
WRITE_HOURS = float(os.environ.get("BENCH_MON_WRITE_HOURS", "1"))  # of the raw hours, written cycle by cycle
MINUTE_DAYS = int(os.environ.get("BENCH_MON_MINUTE_DAYS", "8"))  # the queries read at most 7 days of minutes
ROUNDS = int(os.environ.get("BENCH_MON_ROUNDS", "50"))
STEP = 15
NAMES = [f"bench_{n}" for n in ("requests", "errors", "latency_p95_ms", "tokens", "cost",
                                "gpu_util", "gpu_temp", "gpu_mem", "queue_depth", "replicas")]  # fmt: skip
PER_NAME = max(1, SERIES // len(NAMES))
TARGET_P99_MS = 100.0


def labels(i: int) -> dict[str, str]:
    return {"route": f"r{i:03d}", "tier": "a" if i % 2 == 0 else "b"}


def value(name_i: int, series_i: int, t: float) -> float:
    return float((name_i * 7 + series_i * 13 + int(t // STEP)) % 100)


async def ingest_raw(db: Database, now: dt.datetime) -> dict:
    """The last WRITE_HOURS of cycles, one store.write per 15 s stamp (the collector's shape)."""
    start = store._floor(now - dt.timedelta(hours=WRITE_HOURS), STEP)
    cycles = int((now - start).total_seconds() // STEP)
    cycle_ms: list[float] = []
    began = time.perf_counter()
    for c in range(cycles):
        at = start + dt.timedelta(seconds=c * STEP)
        t = at.timestamp()
        points = [(name, labels(s), at, value(n, s, t)) for n, name in enumerate(NAMES) for s in range(PER_NAME)]
        t0 = time.perf_counter()
        async with db.sessionmaker() as session:
            await store.write(session, points)
            await session.commit()
        cycle_ms.append((time.perf_counter() - t0) * 1000)
        if c % 500 == 0:
            print(f"  raw: {c}/{cycles} cycles", flush=True)
    total = time.perf_counter() - began
    points = cycles * len(NAMES) * PER_NAME
    return {
        "cycles": cycles,
        "points": points,
        "seconds": round(total, 1),
        "points_per_s": round(points / total),
        "cycle_ms_p50": round(statistics.median(cycle_ms), 2),
        "cycle_ms_p99": round(_pct(cycle_ms, 99), 2),
    }


_OLD_RAW = """
INSERT INTO metric_points (series_id, ts, value)
SELECT s.id, b, (s.id * 13 + extract(epoch FROM b)::bigint / 15) %% 100
FROM metric_series s, generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '15 seconds', interval '15 seconds') b
WHERE s.name LIKE 'bench_%%'
ON CONFLICT DO NOTHING
"""
_OLD_MINUTES = """
INSERT INTO metric_points_1m (series_id, bucket, count, sum, min, max)
SELECT s.id, b, 4, 4 * ((s.id * 13 + extract(epoch FROM b)::bigint / 60) %% 100),
       ((s.id * 13 + extract(epoch FROM b)::bigint / 60) %% 100) - 1, ((s.id * 13 + extract(epoch FROM b)::bigint / 60) %% 100) + 1
FROM metric_series s, generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '1 minute', interval '1 minute') b
WHERE s.name LIKE 'bench_%%'
ON CONFLICT DO NOTHING
"""
_HOURS = """
INSERT INTO metric_points_1h (series_id, bucket, count, sum, min, max)
SELECT s.id, b, 240, 240 * ((s.id * 13 + extract(epoch FROM b)::bigint / 3600) %% 100), 0, 99
FROM metric_series s, generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '1 hour', interval '1 hour') b
WHERE s.name LIKE 'bench_%%'
ON CONFLICT DO NOTHING
"""


def backfill_raw(url: str, now: dt.datetime) -> dict:
    """Raw points from RAW_HOURS ago up to the cycles written by store.write, in SQL, hour by hour."""
    lo = store._floor(now - dt.timedelta(hours=RAW_HOURS), 60)
    end = store._floor(now - dt.timedelta(hours=WRITE_HOURS), STEP)
    began = time.perf_counter()
    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while lo < end:
            hi = min(lo + dt.timedelta(hours=6), end)
            rows += conn.execute(_OLD_RAW, {"lo": lo, "hi": hi}).rowcount
            lo = hi
            print(f"  raw points up to {hi:%m-%d %H:%M} ({rows:,} rows)", flush=True)
    seconds = time.perf_counter() - began
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / max(seconds, 1e-9))}


def backfill(url: str, now: dt.datetime) -> dict:
    """Minute rollups from MINUTE_DAYS ago up to the raw hours, hour rollups for DAYS, day by day."""
    raw_start = store._floor(now - dt.timedelta(hours=RAW_HOURS), 60)
    began = time.perf_counter()
    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        lo = store._floor(now - dt.timedelta(days=min(MINUTE_DAYS, DAYS)), 60)
        while lo < raw_start:
            hi = min(lo + dt.timedelta(days=1), raw_start)
            rows += conn.execute(_OLD_MINUTES, {"lo": lo, "hi": hi}).rowcount
            lo = hi
            print(f"  minute rollups up to {hi:%m-%d %H:%M} ({rows:,} rows)", flush=True)
        hour_end = store._floor(now, 3600)
        rows += conn.execute(_HOURS, {"lo": hour_end - dt.timedelta(days=DAYS), "hi": hour_end}).rowcount
        conn.execute("ANALYZE metric_points; ANALYZE metric_points_1m; ANALYZE metric_points_1h; ANALYZE metric_series")
    return {"rows": rows, "seconds": round(time.perf_counter() - began, 1)}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def queries(db: Database, now: dt.datetime) -> dict:
    name = NAMES[0]
    one = labels(7)
    kinds = {
        "1 series, 1 h at 15 s (raw)": (name, one, dt.timedelta(hours=1), 15),
        "1 series, 24 h, default step (1m)": (name, one, dt.timedelta(hours=24), None),
        "1 series, 30 d, default step (1h)": (name, one, dt.timedelta(days=30), None),
        f"{PER_NAME // 2} series of a name (label tier=a), 7 d": (name, {"tier": "a"}, dt.timedelta(days=7), None),
        f"{PER_NAME // 2} series (tier=a), 7 d at a 10 min step (1m)": (name, {"tier": "a"}, dt.timedelta(days=7), 600),
        f"{PER_NAME} series of a name, 24 h": (NAMES[5], {}, dt.timedelta(hours=24), None),
        "1 series by label, 7 d": (NAMES[3], {"route": "r042"}, dt.timedelta(days=7), None),
    }
    results = {}
    async with db.sessionmaker() as session:
        for kind, (n, match, span, step) in kinds.items():
            timings = []
            for r in range(ROUNDS + 1):
                t0 = time.perf_counter()
                page = await store.query(session, n, match, now - span, now, step, now)
                if r:
                    timings.append((time.perf_counter() - t0) * 1000)
            points = sum(len(s["points"]) for s in page["series"])
            results[kind] = {
                "series": len(page["series"]),
                "points": points,
                "resolution": page["resolution"],
                "p50_ms": round(statistics.median(timings), 2),
                "p99_ms": round(_pct(timings, 99), 2),
            }
            print(f"  {kind}: {results[kind]}", flush=True)
    return results


async def run(url: str) -> dict:
    db = Database(url, pool_size=2)
    now = store._floor(dt.datetime.now(dt.UTC), STEP)
    try:
        print(f"raw: {WRITE_HOURS} h of {len(NAMES) * PER_NAME} series at {STEP} s through store.write", flush=True)
        raw = await ingest_raw(db, now)
        print(f"  {raw}", flush=True)
        raw_sql = await asyncio.to_thread(backfill_raw, libpq_url(url), now)
        print(f"  the rest of the {RAW_HOURS} raw hours in SQL: {raw_sql}", flush=True)
        t0 = time.perf_counter()
        async with db.sessionmaker() as session:
            await store.rollup(session, now, lookback=dt.timedelta(hours=RAW_HOURS))
            await session.commit()
        rollup_s = round(time.perf_counter() - t0, 1)
        print(f"rollup of the raw hours: {rollup_s} s", flush=True)
        old = await asyncio.to_thread(backfill, libpq_url(url), now)
        print(f"older rollups: {old}", flush=True)
        async with db.sessionmaker() as session:
            sizes = dict(
                (
                    await session.execute(
                        text("""SELECT relname, n_live_tup FROM pg_stat_user_tables
                                WHERE relname IN ('metric_points', 'metric_points_1m', 'metric_points_1h')""")
                    )
                ).all()
            )
            total_bytes = (
                await session.execute(
                    text("""SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['metric_points',
                            'metric_points_1m', 'metric_points_1h']::regclass[]) c""")
                )
            ).scalar_one()
        print("queries:", flush=True)
        q = await queries(db, now)
        return {
            "raw": raw,
            "raw_sql": raw_sql,
            "rollup_raw_hours_s": rollup_s,
            "older_rollups": old,
            "rows": sizes,
            "size_mb": round(int(total_bytes) / 2**20),
            "queries": q,
        }
    finally:
        await db.dispose()


def main() -> None:
    admin = libpq_url(SERVER)
    url = make_url(admin).set(database=DB_NAME).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    began = time.perf_counter()
    try:
        upgrade(url)
        result = asyncio.run(run(url))
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    worst = max(v["p99_ms"] for v in result["queries"].values())
    out = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "series": len(NAMES) * PER_NAME,
            "days": DAYS,
            "raw_hours": RAW_HOURS,
            "minute_days": MINUTE_DAYS,
            "rounds": ROUNDS,
        },
        **result,
        "total_s": round(time.perf_counter() - began, 1),
        "worst_p99_ms": worst,
        "target_p99_ms": TARGET_P99_MS,
        "pass": worst <= TARGET_P99_MS,
    }
    (Path(__file__).parent / "ingest_results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
