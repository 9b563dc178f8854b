"""Drift and usage-anomaly benchmark: the per-request prompt features on the gateway's path (timeit), the
statistics on two full windows (20,000 rows each), then the two jobs on a database with BENCH_DRIFT_KEYS
API keys each making BENCH_DRIFT_PER_HOUR requests an hour for 8 days over BENCH_DRIFT_ROUTES routes.

    .venv/bin/python bench/monitoring/drift.py

Runs on its own database `axops_bench_drift` on AXOPS_BENCH_DATABASE_URL's server (default the local
PostgreSQL), created, migrated and dropped. Results are printed and written to
bench/monitoring/drift_results.json. No target of the issue applies; the figures say what the hourly
drift job and the 5-minute anomaly job cost."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np
import psycopg
from sqlalchemy import make_url

from axops.core import partitions
from axops.core.db import Database, libpq_url
from axops.gateway.usage_writer import prompt_features
from axops.migrations.runner import upgrade
from axops.monitoring import anomalies, drift_features

SERVER = os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "axops_bench_drift"
KEYS = int(os.environ.get("BENCH_DRIFT_KEYS", "200"))
PER_HOUR = int(os.environ.get("BENCH_DRIFT_PER_HOUR", "10"))
ROUTES = int(os.environ.get("BENCH_DRIFT_ROUTES", "10"))


def features_us() -> dict:
    mixed = "안녕하세요, 오늘 서울 날씨는 어떤가요? Please answer in English. " * 20  # 980 characters
    cases = {
        "ascii_100_chars": {"messages": [{"role": "user", "content": "Hello there. " * 8}]},
        "mixed_1k_chars": {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": mixed}]
        },
        "mixed_10k_chars": {"messages": [{"role": "user", "content": mixed * 10}]},
    }
    out = {}
    for name, body in cases.items():
        n = 2000 if "10k" in name else 20000
        out[name] = round(min(timeit.repeat(lambda body=body: prompt_features(body), number=n, repeat=3)) / n * 1e6, 2)
    return out


def statistics_ms() -> float:
    rng = np.random.default_rng(0)

    def window(mean):
        chars = rng.normal(mean, 30, 20000)
        h = rng.random(20000)
        return np.column_stack([chars, chars / 3, h, 1 - h])

    cur, ref = window(200), window(220)
    return round(min(timeit.repeat(lambda: drift_features.compare_usage(cur, ref), number=5, repeat=3)) / 5 * 1000, 1)


def fill(url: str, now: dt.datetime) -> tuple[int, float]:
    began = time.perf_counter()
    hours = 24 * 8
    with psycopg.connect(url, autocommit=True) as conn:
        for back in (1, 0):
            first = (now.replace(day=1) - dt.timedelta(days=28 * back)).replace(day=1).date()
            after = (first + dt.timedelta(days=32)).replace(day=1)
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{partitions.partition_name("usage_records", first)}" PARTITION OF '
                f"usage_records FOR VALUES FROM ('{first}') TO ('{after}')"
            )
        conn.execute(
            """INSERT INTO usage_records (created_at, endpoint, model, stream, status, prompt_tokens, completion_tokens,
                   cost, latency_ms, attempts, cache, saved_cost, prompt_chars, hangul_ratio, latin_ratio, api_key_id,
                   user_id, client_ip)
               SELECT %(now)s - (h * interval '1 hour') - (r * interval '1 hour' / %(per)s), 'chat',
                      'route-' || (k %% %(routes)s), false, CASE WHEN r = 0 AND h %% 7 = 0 THEN 500 ELSE 200 END,
                      50 + (r * 7 + h) %% 200, 100, 0, 10, 1, 'off', 0, 200 + (r * 13 + h) %% 400,
                      ((r + h) %% 10) / 10.0, 1 - ((r + h) %% 10) / 10.0,
                      ('00000000-0000-0000-0000-' || lpad(k::text, 12, '0'))::uuid,
                      ('00000000-0000-0000-0001-' || lpad((k %% 50)::text, 12, '0'))::uuid,
                      '10.0.' || (k %% 250) || '.' || (1 + r %% 3)
               FROM generate_series(0, %(hours)s - 1) AS h, generate_series(0, %(per)s - 1) AS r,
                    generate_series(1, %(keys)s) AS k""",
            {"now": now, "per": PER_HOUR, "routes": ROUTES, "hours": hours, "keys": KEYS},
        )
        conn.execute("ANALYZE usage_records")
        rows = conn.execute("SELECT count(*) FROM usage_records").fetchone()[0]
    return rows, round(time.perf_counter() - began, 1)


async def jobs(url: str, now: dt.datetime) -> dict:
    db = Database(url, pool_size=2)
    out = {}
    try:
        for name, job in (
            ("drift_job_s", lambda s: drift_features.run(s, now=now)),
            ("anomaly_job_s", lambda s: anomalies.detect(s, now)),
        ):
            timings = []
            for _ in range(2):
                async with db.sessionmaker() as session:
                    t0 = time.perf_counter()
                    await job(session)
                    timings.append(time.perf_counter() - t0)
                    await session.rollback()
            out[name] = round(min(timings), 2)
    finally:
        await db.dispose()
    return out


def main() -> None:
    results: dict = {"prompt_features_us": features_us(), "compare_usage_20k_rows_ms": statistics_ms()}
    print(results, flush=True)
    admin = libpq_url(SERVER)
    url = make_url(admin).set(database=DB_NAME).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    try:
        upgrade(url)
        rows, fill_s = fill(libpq_url(url), now)
        results |= {"usage_rows": rows, "keys": KEYS, "routes": ROUTES, "fill_s": fill_s}
        results |= asyncio.run(jobs(url, now))
        print(results, flush=True)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    (Path(__file__).parent / "drift_results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
