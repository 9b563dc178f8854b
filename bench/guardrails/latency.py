"""What guardrail policies add at the gateway: the same 2 KB chat request (Korean and English, no
violation, so it is answered) through the real `axops up` gateway to a fast mock upstream, on a route
no policy applies to and on a route whose policy runs every built-in check (PII, banned words,
harmful content, injection) on the request and the answer — interleaved, at concurrency 1 and 64.
Also the checks alone, in process, on the same text (no HTTP noise).

    make bench-guardrails          (or: .venv/bin/python bench/guardrails/latency.py)

Knobs: BENCH_SECONDS (6 per case and round), BENCH_ROUNDS (2). Prints and writes
bench/guardrails/latency.json.
"""

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
from axops.guardrails import engine

SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
PASSWORD = "bench-admin-password"
PY = sys.executable
_LINE = (
    "안녕하세요, 지난주에 주문한 무선 이어폰 한쪽이 충전되지 않습니다. 교환 절차를 알려 주세요. "
    "The left earbud stops charging after a few minutes; the case light blinks orange. "
)
PROMPT = (_LINE * 20)[:2048]
CHECKS = {
    "pii": {"action": "mask", "restore": True},
    "banned_words": {"words": ["프로젝트X", "codename-falcon", "내부 기밀", "confidential-roadmap"], "action": "block"},
    "harmful": {"action": "block"},
    "injection": {"action": "block"},
}


def body(model: str) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]}, ensure_ascii=False).encode()


def setup(tmp: Path, upstream: str):
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
        "AXOPS_LOG_LEVEL": "WARNING",
    }
    axops = str(Path(PY).parent / "axops")
    subprocess.run([axops, "migrate"], env=env, check=True, capture_output=True)
    server, base = start_server(env, axops, tmp / "axops.log")
    c = httpx.Client(base_url=base, timeout=30)
    token = c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    provider = c.post(
        "/api/gateway/providers", json={"name": "mock", "base_url": upstream + "/v1", "external": False}, headers=h
    ).json()
    routes = {}
    for model in ("plain", "guarded"):
        r = c.post(
            "/api/gateway/routes",
            json={"model_name": model, "targets": [{"provider_id": provider["id"], "model": "bench"}]},
            headers=h,
        )
        r.raise_for_status()
        routes[model] = r.json()["id"]
    c.post(
        "/api/guardrails/policies",
        json={"name": "bench-all", "scope": "route", "target_id": routes["guarded"], "checks": CHECKS},
        headers=h,
    ).raise_for_status()
    key = c.post("/api/apikey/create", json={"name": "bench", "models": ["plain", "guarded"]}, headers=h).json()
    return server, base, key["key"], pg


async def run_case(url: str, key: str, model: str, concurrency: int, seconds: float) -> dict:
    payload = body(model)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker():
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                async with session.post(url + "/v1/chat/completions", data=payload, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                        continue
                latencies.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 3) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3) if latencies else None,
    }


def in_process() -> dict:
    policy = engine.compile_policy(None, "bench-all", "global", None, "both", CHECKS)
    engine.evaluate([policy], PROMPT, "input")  # warm caches (compiled word lists)
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        engine.evaluate([policy], PROMPT, "input")
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 4), "p99_ms": round(times[int(len(times) * 0.99)], 4)}


def main() -> None:
    results: dict = {
        "prompt_chars": len(PROMPT),
        "prompt_bytes": len(PROMPT.encode()),
        "in_process_all_checks": in_process(),
    }
    print("checks in process, 2 KB:", results["in_process_all_checks"])
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-guardrails-"))
    procs: list[subprocess.Popen] = []
    pg = None
    try:
        mock_port = free_port()
        procs.append(subprocess.Popen([PY, str(ROOT / "bench" / "gateway" / "mock_upstream.py"), str(mock_port)]))
        mock = f"http://127.0.0.1:{mock_port}"
        server, base, key, pg = setup(tmp, mock)
        procs.append(server)
        for model in ("plain", "guarded"):  # warm-up: table, policy cache, connections
            asyncio.run(run_case(base, key, model, 4, 1.0))
        cases: dict[str, dict[int, list[dict]]] = {m: {1: [], 64: []} for m in ("plain", "guarded")}
        for _ in range(ROUNDS):
            for concurrency in (1, 64):
                for model in ("plain", "guarded"):
                    cases[model][concurrency].append(asyncio.run(run_case(base, key, model, concurrency, SECONDS)))
        for model, by_c in cases.items():
            for concurrency, runs in by_c.items():
                best = min(runs, key=lambda r: r["p50_ms"] or 1e9)
                results[f"{model} c={concurrency}"] = best
                print(f"{model:8s} c={concurrency:<3d} {best}")
        for concurrency in (1, 64):
            added = results[f"guarded c={concurrency}"]["p50_ms"] - results[f"plain c={concurrency}"]["p50_ms"]
            results[f"added_p50_ms c={concurrency}"] = round(added, 3)
            print(f"guardrails add {added:.3f} ms p50 at c={concurrency}")
    finally:
        for p in procs:
            p.terminate()
        if pg is not None:
            pg.cleanup()
    (HERE / "latency.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
