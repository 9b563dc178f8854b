"""A/B of the MLflow get-history build for 100,000 points on one connection, alternating: the old
json_agg(json_build_object(...)) in PostgreSQL against binary arrays written by orjson (experiments/metrics.py).
Uses a TEMP table on AXOPS_BENCH_DATABASE_URL (default: the local PostgreSQL)."""

import asyncio
import os
import statistics
import time
import uuid

import asyncpg
import orjson

OLD = """SELECT coalesce(json_agg(json_build_object('key', $2::text, 'value', value, 'timestamp', timestamp, 'step', step)), '[]')::text, count(*)
FROM (SELECT value, timestamp, step, row_number() OVER () AS n FROM (SELECT value, timestamp, step FROM m WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp LIMIT $3 OFFSET $4) o) s WHERE $5::bigint IS NULL OR s.n <= $5"""
NEW = """SELECT array_agg(step), array_agg(timestamp), array_agg(value), bool_or(value IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8))
FROM (SELECT step, timestamp, value FROM m WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp LIMIT $3 OFFSET $4) s"""


async def main():
    c = await asyncpg.connect(
        os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    await c.execute("CREATE TEMP TABLE m (run_id uuid, key text, value float8, step int8, timestamp int8)")
    rid = uuid.uuid4()
    await c.execute(
        "INSERT INTO m SELECT $1, 'loss', 1.0/(s+1), s, 1700000000000+s FROM generate_series(0,99999) s", rid
    )
    await c.execute("CREATE INDEX ON m (run_id, key, step)")
    await c.execute("ANALYZE m")
    old, new = [], []
    for _ in range(12):
        t = time.perf_counter()
        r = await c.fetch(OLD, rid, "loss", None, 0, None)
        b = r[0][0].encode()
        old.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = await c.fetch(NEW, rid, "loss", None, 0)
        s_, ts, vs, _odd = r[0]
        b2 = orjson.dumps(
            [{"key": "loss", "value": v, "timestamp": t_, "step": s} for s, t_, v in zip(s_, ts, vs, strict=True)]
        )
        new.append(time.perf_counter() - t)
    assert orjson.loads(b) == orjson.loads(b2)
    print(
        f"100k points, server-side build (query + bytes): old json_agg p50 {statistics.median(old[2:]) * 1000:.0f} ms (min {min(old) * 1000:.0f}), new arrays+orjson p50 {statistics.median(new[2:]) * 1000:.0f} ms (min {min(new) * 1000:.0f})"
    )


asyncio.run(main())
