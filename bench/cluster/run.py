"""Cluster benchmark: gateway requests per second (`/v1/chat/completions`, non-streaming, a fast
mock upstream, an API key with Redis-backed rate limits high enough never to refuse) with one API
process, then two processes sharing one PostgreSQL and one Redis, at concurrency 64 spread over
the processes round-robin as a load balancer would.

    make bench-cluster          (or: .venv/bin/python bench/cluster/run.py)

Knobs: BENCH_SECONDS (10), BENCH_CONCURRENCY (64). Needs /usr/bin/redis-server.
The load generator (one asyncio process) runs on the same machine: see README.md for what that means.
Results are printed and written to bench/cluster/results.json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
sys.path.insert(0, str(ROOT / "bench" / "api"))
sys.path.insert(0, str(ROOT / "src"))

from run import free_port, start_server  # bench/api/run.py

from axops.core.db import libpq_url
from axops.core.embedded import start_embedded_postgres

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
PASSWORD = "bench-admin-password"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Hello, how are you today?"}]}
PY = sys.executable


def start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc


async def load(urls: list[str], key: str, seconds: float, concurrency: int) -> dict:
    """`concurrency` clients, each sending the next request to the next process in turn."""
    ok = errors = 0
    turn = itertools.cycle(urls)
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                try:
                    async with session.post(next(turn) + "/v1/chat/completions", json=BODY, headers=headers) as r:
                        await r.read()
                        ok, errors = (ok + 1, errors) if r.status == 200 else (ok, errors + 1)
                except aiohttp.ClientError:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"req_per_s": round(ok / elapsed, 1), "ok": ok, "errors": errors}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-cluster-"))
    procs: list[subprocess.Popen] = []
    pg = None
    try:
        mock_port, redis_port = free_port(), free_port()
        procs.append(subprocess.Popen([PY, str(ROOT / "bench" / "gateway" / "mock_upstream.py"), str(mock_port)]))
        procs.append(start_redis(redis_port))
        pg, server_url = start_embedded_postgres(tmp / "pg", database="postgres")
        name = f"axops_bench_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db_url = make_url(libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)
        env = {
            **os.environ,
            "AXOPS_DATABASE_URL": db_url,
            "AXOPS_DATA_DIR": str(tmp / "data"),
            "AXOPS_ADMIN_PASSWORD": PASSWORD,
            "AXOPS_SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "AXOPS_LOG_LEVEL": "WARNING",
            "AXOPS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        }
        axops = str(Path(PY).parent / "axops")
        subprocess.run([axops, "migrate"], env=env, check=True, capture_output=True)
        a, url_a = start_server(env, axops, tmp / "a.log")
        procs.append(a)
        c = httpx.Client(base_url=url_a, timeout=30)
        token = c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        provider = c.post(
            "/api/gateway/providers", json={"name": "mock", "base_url": f"http://127.0.0.1:{mock_port}/v1"}, headers=h
        ).json()
        target = {"provider_id": provider["id"], "model": "bench", "input_price": 0.5, "output_price": 1.5}
        c.post("/api/gateway/routes", json={"model_name": "bench", "targets": [target]}, headers=h).raise_for_status()
        key = c.post("/api/apikey/create", json={"name": "bench", "models": ["bench"]}, headers=h).json()
        # Never refuses, so the shared (Redis) buckets are taken on every request as in production.
        c.put(
            f"/api/gateway/limits/key/{key['id']}", json={"rpm": 10_000_000, "tpm": 1_000_000_000}, headers=h
        ).raise_for_status()
        results: dict = {"seconds": SECONDS, "concurrency": CONCURRENCY, "cpus": os.cpu_count()}
        asyncio.run(load([url_a], key["key"], 2, CONCURRENCY))  # warm-up
        results["one process"] = asyncio.run(load([url_a], key["key"], SECONDS, CONCURRENCY))
        print("one process:", results["one process"], flush=True)
        b, url_b = start_server(env, axops, tmp / "b.log")
        procs.append(b)
        asyncio.run(load([url_a, url_b], key["key"], 2, CONCURRENCY))
        results["two processes"] = asyncio.run(load([url_a, url_b], key["key"], SECONDS, CONCURRENCY))
        print("two processes:", results["two processes"], flush=True)
        results["ratio"] = round(results["two processes"]["req_per_s"] / results["one process"]["req_per_s"], 2)
        print("ratio:", results["ratio"])
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)
        if pg is not None:
            pg.cleanup()


if __name__ == "__main__":
    main()
