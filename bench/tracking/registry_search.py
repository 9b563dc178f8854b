"""Registry search over 10,000 models through both doors: MLflow's registered-models/search (what
`MlflowClient.search_registered_models` sends) and the axops GET /api/model, p50/p99 per request.

    AXOPS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/tracking/registry_search.py

Knobs: BENCH_MODELS (10000), BENCH_REQUESTS (400 per case), BENCH_CONCURRENCY (4). Without
AXOPS_BENCH_DATABASE_URL an embedded PostgreSQL in a temporary directory is used. Requests are sent by an
asyncio httpx client in this process (wrk is not installed here); latency is client-observed, loopback."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "api"))
sys.path.insert(0, str(ROOT / "src"))

import importlib.util

from run import start_server  # bench/api/run.py

_spec = importlib.util.spec_from_file_location("bench_registry_run", ROOT / "bench" / "registry" / "run.py")
_registry_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_registry_bench)
fill_models = _registry_bench.fill_models  # the same 10,000 rows as the registry benchmark, fewer of them

from axops.core.db import libpq_url
from axops.core.embedded import start_embedded_postgres

MODELS = int(os.environ.get("BENCH_MODELS", "10000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
PASSWORD = "bench-admin-password"
CASES = {
    "mlflow search, first page (order by name)": ("/api/2.0/mlflow/registered-models/search", {"max_results": "100"}),
    "mlflow search, name LIKE 'model-99%'": (
        "/api/2.0/mlflow/registered-models/search",
        {"filter": "name LIKE 'model-99%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "max_results": "100"},
    ),
    "mlflow search, name = 'model-4242'": (
        "/api/2.0/mlflow/registered-models/search",
        {"filter": "name = 'model-4242'"},
    ),
    "axops list, first page": ("/api/model", {"limit": "50"}),
    "axops full text q=legal": ("/api/model", {"q": "legal", "limit": "50"}),
}


async def measure(base: str, headers: dict, path: str, params: dict) -> dict:
    times: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(20):  # warm up
            (await client.get(path, params=params)).raise_for_status()
        queue = asyncio.Queue()
        for _ in range(REQUESTS):
            queue.put_nowait(None)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                r = await client.get(path, params=params)
                times.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "req_s": round(len(times) / elapsed),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-regsearch-"))
    server_url = os.environ.get("AXOPS_BENCH_DATABASE_URL")
    if not server_url:
        _, server_url = start_embedded_postgres(tmp, database="postgres")
    name = f"axops_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = make_url(libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "AXOPS_DATABASE_URL": db_url,
        "AXOPS_DATA_DIR": str(tmp / "data"),
        "AXOPS_ADMIN_PASSWORD": PASSWORD,
        "AXOPS_LOG_LEVEL": "WARNING",
    }
    axops = str(Path(sys.executable).parent / "axops")
    subprocess.run([axops, "migrate"], env=env, check=True, capture_output=True)
    server, base = start_server(env, axops, tmp / "server.log")
    results: dict = {"models": MODELS, "concurrency": CONCURRENCY, "requests": REQUESTS, "cases": {}}
    try:
        client = httpx.Client(base_url=base, timeout=600)
        token = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        team = client.post("/api/teams", json={"name": "bench"}, headers=h).json()
        fill_models(db_url, team["id"], MODELS)
        for label, (path, params) in CASES.items():
            results["cases"][label] = r = asyncio.run(measure(base, h, path, params))
            print(f"{label:45s} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  {r['req_s']} req/s")
    finally:
        server.terminate()
        server.wait()
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    (Path(__file__).parent / "registry_search.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
