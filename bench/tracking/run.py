"""Experiment-tracking benchmark: metric points ingested per second through the axops batch API
(`POST /api/experiments/runs/{id}/log-batch`) and the MLflow-compatible one (`/api/2.0/mlflow/runs/log-batch`),
1000 points per call from several concurrent clients, and the fetch time of a 100,000-point metric history.

    make bench-tracking                      # embedded PostgreSQL in a temporary directory
    AXOPS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench-tracking

Targets (DESIGN.md §7): ≥ 75,000 points/s through the batch API; a 100,000-point history in ≤ 200 ms.
Results are printed and written to bench/tracking/results.json.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


_spec = importlib.util.spec_from_file_location("bench_api_run", ROOT / "bench" / "api" / "run.py")
_api_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_bench)
start_server = _api_bench.start_server  # `axops up` on a free port, once /readyz answers
migrated_database = _api_bench.migrated_database  # a fresh migrated database, dropped afterwards

PASSWORD = "bench-admin-password"
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "4,8").split(",")]
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "1,2").split(",")]
BATCH = 1000
HISTORY = 100_000


def setup_user(base: str) -> str:
    admin = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
        "access_token"
    ]
    h = {"Authorization": f"Bearer {admin}"}
    team = httpx.post(base + "/api/teams", json={"name": "bench"}, headers=h).json()
    r = httpx.post(
        base + "/api/users",
        json={"username": "bench", "password": PASSWORD, "role": "developer", "team_ids": [team["id"]]},
        headers=h,
    )
    r.raise_for_status()
    token = httpx.post(base + "/api/auth/login", json={"username": "bench", "password": PASSWORD}).json()[
        "access_token"
    ]
    key = httpx.post(
        base + "/api/apikey/create",
        json={"name": "bench", "scopes": ["training:read", "training:write"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    key.raise_for_status()
    return key.json()["key"]


def new_run(base: str, key: str, name: str) -> str:
    r = httpx.post(
        base + "/api/experiments/runs",
        json={"experiment_name": "bench", "name": name},
        headers={"Authorization": f"Bearer {key}"},
    )
    r.raise_for_status()
    return r.json()["id"]


def bodies(run_id: str, mlflow: bool, n: int = 20) -> list[bytes]:
    """n pre-encoded batches of 1000 points (10 keys × 100 steps each), so the client spends no CPU on JSON."""
    out = []
    now = int(time.time() * 1000)
    for b in range(n):
        points = [
            {"key": f"metric_{k}", "value": 1.0 / (1 + b * 100 + s), "step": b * 100 + s, "timestamp": now + s}
            for k in range(10)
            for s in range(100)
        ]
        body = {"run_id": uuid.UUID(run_id).hex, "metrics": points} if mlflow else {"metrics": points}
        out.append(orjson.dumps(body))
    return out


async def ingest(base: str, key: str, mlflow: bool, concurrency: int) -> dict:
    runs = [new_run(base, key, f"{'mlflow' if mlflow else 'batch'}-c{concurrency}-{i}") for i in range(concurrency)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    calls = errors = 0
    latencies: list[float] = []
    deadline = 0.0

    async def client(session: aiohttp.ClientSession, run_id: str) -> None:
        nonlocal calls, errors
        url = base + ("/api/2.0/mlflow/runs/log-batch" if mlflow else f"/api/experiments/runs/{run_id}/log-batch")
        payloads = bodies(run_id, mlflow)
        i = 0
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            async with session.post(url, data=payloads[i % len(payloads)], headers=headers) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
                    if errors < 3:
                        print("error", r.status, (await r.text())[:200])
                else:
                    calls += 1
                    latencies.append(time.perf_counter() - t)
            i += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        deadline = time.perf_counter() + 2  # warm-up
        await asyncio.gather(*(client(session, r) for r in runs))
        calls = errors = 0
        latencies.clear()
        start = time.perf_counter()
        deadline = start + DURATION
        await asyncio.gather(*(client(session, r) for r in runs))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "points_per_s": round(calls * BATCH / elapsed),
        "calls_per_s": round(calls / elapsed, 1),
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
    }


def history(base: str, key: str) -> dict:
    run_id = new_run(base, key, "history-100k")
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    now = int(time.time() * 1000)
    with httpx.Client(base_url=base, headers=h, timeout=60) as c:
        for b in range(HISTORY // BATCH):
            points = [
                {
                    "key": "loss",
                    "value": 1.0 / (1 + b * BATCH + s),
                    "step": b * BATCH + s,
                    "timestamp": now + b * BATCH + s,
                }
                for s in range(BATCH)
            ]
            c.post(
                f"/api/experiments/runs/{run_id}/log-batch", content=orjson.dumps({"metrics": points})
            ).raise_for_status()
        out = {}
        for label, path, params in (
            ("axops GET /api/experiments/runs/{id}/metrics/loss", f"/api/experiments/runs/{run_id}/metrics/loss", None),
            (
                "MLflow GET /api/2.0/mlflow/metrics/get-history",
                "/api/2.0/mlflow/metrics/get-history",
                {"run_id": uuid.UUID(run_id).hex, "metric_key": "loss"},
            ),
        ):
            times = []
            for i in range(23):
                t = time.perf_counter()
                r = c.get(path, params=params)
                r.raise_for_status()
                doc = orjson.loads(r.content)
                if i >= 3:  # the first three are warm-up
                    times.append((time.perf_counter() - t) * 1000)
            count = doc["count"] if "count" in doc else len(doc["metrics"])
            assert count == HISTORY, count
            out[label] = {
                "points": count,
                "bytes": len(r.content),
                "p50_ms": round(statistics.median(times), 1),
                "min_ms": round(min(times), 1),
                "max_ms": round(max(times), 1),
            }
            print(
                f"{label:56s} {count} points, {len(r.content) / 1e6:.1f} MB: p50 {out[label]['p50_ms']} ms "
                f"(min {out[label]['min_ms']}, max {out[label]['max_ms']}), request to parsed JSON"
            )
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-tracking-"))
    results: dict = {"ingest": {}, "history": {}}
    key = None
    with migrated_database(tmp, log_level="WARNING") as (env, db_url, axops):
        for workers in WORKERS:
            server, base = start_server(env, axops, tmp / f"server-{workers}.log", workers)
            try:
                key = key or setup_user(base)
                print(f"-- axops up --workers {workers}")
                for mlflow in (False, True):
                    for c in CONCURRENCY:
                        label = f"{'MLflow /api/2.0/mlflow/runs/log-batch' if mlflow else 'axops log-batch'}, {workers} worker(s), c={c}"
                        results["ingest"][label] = r = asyncio.run(ingest(base, key, mlflow, c))
                        print(
                            f"{label:58s} {r['points_per_s']:>8,} points/s  ({r['calls_per_s']} calls/s, p50 {r['p50_ms']} ms, "
                            f"p99 {r['p99_ms']} ms, errors {r['errors']})"
                        )
                if workers == WORKERS[0]:
                    results["history"] = history(base, key)
            finally:
                server.terminate()
                server.wait(timeout=20)
        with psycopg.connect(db_url) as conn:
            results["metric_rows"] = conn.execute("SELECT count(*) FROM run_metrics").fetchone()[0]
    out = {
        "duration_s": DURATION,
        "batch": BATCH,
        "history_points": HISTORY,
        "database": "external" if os.environ.get("AXOPS_BENCH_DATABASE_URL") else "embedded pgserver",
        "targets": {"ingest_points_per_s": 75_000, "history_100k_ms": 200},
        "results": results,
    }
    (Path(__file__).parent / "results.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
