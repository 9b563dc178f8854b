"""Single-call tracking benchmark (issue 20): `mlflow.log_metric` one point per call through the stock
MLflow client from one process, and metric history of 10,000 and 100,000 points through raw HTTP and
through `MlflowClient.get_metric_history`.

    .venv/bin/python bench/tracking/single.py               # embedded PostgreSQL
    AXOPS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/tracking/single.py

Server time per call is read from the server's access log (`http.request` events carry duration_ms: from the
first byte in to the last byte out, inside the server). Results go to bench/tracking/single.json.
"""

from __future__ import annotations

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
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as tracking

CALLS = int(os.environ.get("BENCH_CALLS", "3000"))
SIZES = [int(n) for n in os.environ.get("BENCH_HISTORY", "10000,100000").split(",")]

# Runs in a child process: the stock client as a training loop would use it, nothing else in the process.
_CLIENT = r"""
import json, os, sys, time, mlflow
mlflow.set_tracking_uri(os.environ["BENCH_URL"])
run_id, calls = sys.argv[1], int(sys.argv[2])
client = mlflow.MlflowClient()
lat = []
for i in range(200):  # warm-up: connection pool, imports
    client.log_metric(run_id, "warmup", i, step=i)
mlflow.start_run(run_id=run_id)  # a training loop logs inside its run (with run_id= the client also GETs the run per call)
start, cpu = time.perf_counter(), time.process_time()
for i in range(calls):
    t = time.perf_counter_ns()
    mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    lat.append(time.perf_counter_ns() - t)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
lat.sort()
print(json.dumps({"elapsed": elapsed, "client_cpu_ms": cpu * 1000 / calls, "p50_ms": lat[len(lat) // 2] / 1e6, "p99_ms": lat[int(len(lat) * .99)] / 1e6}))
"""

_HISTORY_CLIENT = r"""
import json, os, sys, time, mlflow
mlflow.set_tracking_uri(os.environ["BENCH_URL"])
client = mlflow.MlflowClient()
times = []
for i in range(8):
    t = time.perf_counter()
    pts = client.get_metric_history(sys.argv[1], "loss")
    if i >= 2:
        times.append((time.perf_counter() - t) * 1000)
assert len(pts) == int(sys.argv[2]), len(pts)
times.sort()
print(json.dumps({"p50_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1]}))
"""


def server_times(log_path: Path, path: str, skip: int) -> list[float]:
    out = []
    for line in log_path.read_text().splitlines():
        if '"http.request"' in line and path in line:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("path") == path and doc.get("status") == 200:
                out.append(float(doc["duration_ms"]))
    return out[skip:]


def _last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def single_calls(base: str, key: str, log_path: Path, server_pid: int) -> dict:
    run_id = uuid.UUID(tracking.new_run(base, key, "single-log-metric")).hex
    env = {
        **os.environ,
        "BENCH_URL": base,
        "MLFLOW_TRACKING_TOKEN": key,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    before = _cpu_seconds(server_pid)
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, run_id, str(CALLS)], env=env, capture_output=True, text=True, check=True
    )
    server_cpu = _cpu_seconds(server_pid) - before  # includes the 200 warm-up calls
    r = _last_json(out.stdout)
    server = server_times(log_path, "/api/2.0/mlflow/runs/log-metric", 200)
    server.sort()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        got = c.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}).json()
    assert [m["step"] for m in got["metrics"]] == list(range(CALLS)), "history does not read back"
    res = {
        "calls": CALLS,
        "calls_per_s": round(CALLS / r["elapsed"]),
        "client_p50_ms": round(r["p50_ms"], 2),
        "client_p99_ms": round(r["p99_ms"], 2),
        "server_p50_ms": round(statistics.median(server), 2) if server else None,
        "server_p99_ms": round(server[int(len(server) * 0.99)], 2) if server else None,
        "server_cpu_ms_per_call": round(server_cpu * 1000 / (CALLS + 200), 2),
        "client_cpu_ms_per_call": round(r["client_cpu_ms"], 2),
    }
    print(
        f"single mlflow.log_metric x{CALLS}: {res['calls_per_s']} calls/s, client p50 {res['client_p50_ms']} ms "
        f"(p99 {res['client_p99_ms']}), server p50 {res['server_p50_ms']} ms (p99 {res['server_p99_ms']}); CPU per call: server {res['server_cpu_ms_per_call']} ms, "
        f"client {res['client_cpu_ms_per_call']} ms"
    )
    return res


_ASYNC_CLIENT = r"""
import json, os, sys, time, mlflow
mlflow.set_tracking_uri(os.environ["BENCH_URL"])
run_id, calls = sys.argv[1], int(sys.argv[2])
mlflow.start_run(run_id=run_id)
for i in range(200):
    mlflow.log_metric("warmup", i, step=i, synchronous=False)
mlflow.flush_async_logging()
start, cpu = time.perf_counter(), time.process_time()
for i in range(calls):
    mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
queued = time.perf_counter() - start
mlflow.flush_async_logging()  # every point is on the server when the clock stops
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"elapsed": elapsed, "queued": queued, "client_cpu_ms": cpu * 1000 / calls}))
"""

# Raw HTTP: what the server takes when the client costs little (asyncio httpx, pre-encoded bodies), CONCURRENCY
# requests in flight, each one the same single log-metric call the stock client makes.
_RAW_CLIENT = r"""
import asyncio, json, os, sys, time, httpx
base, key, run_id, calls, conc = os.environ["BENCH_URL"], os.environ["MLFLOW_TRACKING_TOKEN"], sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bodies = [json.dumps({"run_id": run_id, "key": "loss", "value": 1.0 / (i + 1), "step": i, "timestamp": 1_700_000_000_000 + i}).encode() for i in range(calls)]
async def main():
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=h, limits=httpx.Limits(max_connections=conc)) as c:
        for i in range(100):
            await c.post("/api/2.0/mlflow/runs/log-metric", content=json.dumps({"run_id": run_id, "key": "warmup", "value": 1, "step": i, "timestamp": 1}).encode())
        it = iter(bodies)
        async def worker():
            for b in it:
                r = await c.post("/api/2.0/mlflow/runs/log-metric", content=b)
                assert r.status_code == 200, r.text
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return time.perf_counter() - start, time.process_time() - cpu
elapsed, cpu = asyncio.run(main())
print(json.dumps({"elapsed": elapsed, "client_cpu_ms": cpu * 1000 / calls}))
"""


def _child(script: str, env: dict, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env, stdout=subprocess.PIPE, text=True)


def concurrent_calls(base: str, key: str, server_pid: int) -> dict:
    """Is the server the limit? K stock-client processes at once, raw HTTP at concurrency C, and MLflow's async
    logging (synchronous=False) from one process: single log-metric calls per second in total."""
    env = {**os.environ, "BENCH_URL": base, "MLFLOW_TRACKING_TOKEN": key}
    out: dict = {}
    procs = int(os.environ.get("BENCH_PROCESSES", "3"))
    runs = [uuid.UUID(tracking.new_run(base, key, f"multi-{i}")).hex for i in range(procs)]
    before, start = _cpu_seconds(server_pid), time.perf_counter()
    children = [_child(_CLIENT, env, r, CALLS // procs) for r in runs]
    results = [_last_json(c.communicate()[0]) for c in children]
    wall, server_cpu = time.perf_counter() - start, _cpu_seconds(server_pid) - before
    total = procs * (CALLS // procs)
    out["stock_clients"] = {
        "processes": procs,
        "calls_per_s": round(total / max(r["elapsed"] for r in results)),
        "client_cpu_ms_per_call": round(statistics.mean(r["client_cpu_ms"] for r in results), 2),
        "server_cpu_ms_per_call": round(server_cpu * 1000 / (total + 200 * procs), 2),
        "wall_s_with_startup": round(wall, 1),
    }
    conc = int(os.environ.get("BENCH_RAW_CONCURRENCY", "8"))
    run = uuid.UUID(tracking.new_run(base, key, "raw")).hex
    before = _cpu_seconds(server_pid)
    r = _last_json(_child(_RAW_CLIENT, env, run, CALLS, conc).communicate()[0])
    out["raw_http"] = {
        "concurrency": conc,
        "calls_per_s": round(CALLS / r["elapsed"]),
        "client_cpu_ms_per_call": round(r["client_cpu_ms"], 2),
        "server_cpu_ms_per_call": round((_cpu_seconds(server_pid) - before) * 1000 / (CALLS + 100), 2),
    }
    run = uuid.UUID(tracking.new_run(base, key, "async")).hex
    r = _last_json(_child(_ASYNC_CLIENT, env, run, CALLS).communicate()[0])
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        got = c.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run, "metric_key": "loss"}).json()
    assert sorted(m["step"] for m in got["metrics"]) == list(range(CALLS)), "async points do not read back"
    out["async_one_process"] = {
        "calls_per_s": round(CALLS / r["elapsed"]),
        "queued_per_s": round(CALLS / r["queued"]),
        "client_cpu_ms_per_call": round(r["client_cpu_ms"], 3),
    }
    print(f"concurrent: {json.dumps(out)}")
    return out


def histories(base: str, key: str) -> dict:
    out = {}
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    env = {**os.environ, "BENCH_URL": base, "MLFLOW_TRACKING_TOKEN": key}
    now = int(time.time() * 1000)
    with httpx.Client(base_url=base, headers=h, timeout=60) as c:
        for n in SIZES:
            run_id = tracking.new_run(base, key, f"history-{n}")
            for b in range(0, n, 1000):
                pts = [
                    {"key": "loss", "value": 1.0 / (s + 1), "step": s, "timestamp": now + s} for s in range(b, b + 1000)
                ]
                c.post(
                    f"/api/experiments/runs/{run_id}/log-batch", content=orjson.dumps({"metrics": pts})
                ).raise_for_status()
            hex_id = uuid.UUID(run_id).hex
            times = []
            for i in range(13):
                t = time.perf_counter()
                r = c.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": hex_id, "metric_key": "loss"})
                r.raise_for_status()
                doc = orjson.loads(r.content)
                if i >= 3:
                    times.append((time.perf_counter() - t) * 1000)
            assert len(doc["metrics"]) == n
            cli = subprocess.run(
                [sys.executable, "-c", _HISTORY_CLIENT, hex_id, str(n)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            client = _last_json(cli.stdout)
            out[n] = {
                "bytes": len(r.content),
                "raw_p50_ms": round(statistics.median(times), 1),
                "raw_min_ms": round(min(times), 1),
                "raw_max_ms": round(max(times), 1),
                "client_p50_ms": round(client["p50_ms"], 1),
            }
            print(
                f"get-history {n} points: raw HTTP p50 {out[n]['raw_p50_ms']} ms (min {out[n]['raw_min_ms']}, "
                f"max {out[n]['raw_max_ms']}), MlflowClient.get_metric_history p50 {out[n]['client_p50_ms']} ms"
            )
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-single-"))
    with tracking.migrated_database(tmp, log_level="INFO") as (env, _db_url, axops):
        log_path = tmp / "server.log"
        server, base = tracking.start_server(env, axops, log_path, 1)
        try:
            key = tracking.setup_user(base)
            parts = os.environ.get("BENCH_PARTS", "single,concurrent,history").split(",")
            results = {}
            if "single" in parts:
                results["single_log_metric"] = single_calls(base, key, log_path, server.pid)
            if "concurrent" in parts:
                results["concurrent_log_metric"] = concurrent_calls(base, key, server.pid)
            if "history" in parts:
                results["history"] = histories(base, key)
        finally:
            server.terminate()
            server.wait(timeout=20)
    results["load_average"] = os.getloadavg()
    (HERE / "single.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
