"""Training benchmark: how long a job waits between submission and running on a free machine.

    make bench-training          (or: .venv/bin/python bench/training/run.py)
    BENCH_EXECUTOR=ray .venv/bin/python bench/training/run.py     (the same on a local Ray cluster)

Starts `axops up` on a fresh, migrated database (embedded PostgreSQL unless AXOPS_BENCH_DATABASE_URL), registers the demo model and an
approved dataset, then submits BENCH_JOBS (5) small LoRA jobs one after another (each waits for the
previous to finish) and measures, per job: submit → running (the scheduler picked it and started
the process), submit → first training step reported (process start, fetching the model and data,
loading torch/transformers), and submit → succeeded. Results go to bench/training/results.json
(results-ray.json for BENCH_EXECUTOR=ray, which starts a one-node Ray cluster and points axops at it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops.executors.ray_training import local_cluster
from axops.registry.demo import CORPUS, build_demo_model

_spec = importlib.util.spec_from_file_location("bench_api_run", ROOT / "bench" / "api" / "run.py")
_api_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_bench)
start_server, migrated_database, PASSWORD = _api_bench.start_server, _api_bench.migrated_database, _api_bench.PASSWORD

JOBS = int(os.environ.get("BENCH_JOBS", "5"))
EXECUTOR = os.environ.get("BENCH_EXECUTOR", "local")


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        migrated_database(Path(tmp), log_level="WARNING") as (env, _, axops),
        (
            local_cluster(int(os.environ.get("BENCH_RAY_PORT", "8265")))
            if EXECUTOR == "ray"
            else contextlib.nullcontext()
        ) as ray,
    ):
        tmp = Path(tmp)
        if ray:
            env["AXOPS_RAY_ADDRESS"] = ray
        server, base = start_server(env, axops, tmp / "server.log", worker=True)  # the worker scans the dataset
        try:
            c = httpx.Client(base_url=base, timeout=120)
            token = c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
            c.headers["Authorization"] = f"Bearer {token}"
            team = c.post("/api/teams", json={"name": "bench"}).json()
            model = c.post(
                "/api/model/register", json={"name": "bench-base", "task": "text-generation", "team_id": team["id"]}
            ).json()
            demo = build_demo_model(tmp / "demo")
            files = [("files", (p.name, p.read_bytes())) for p in sorted(demo.iterdir()) if p.is_file()]
            version = c.post("/api/model/version/upload", data={"model_id": model["id"]}, files=files).json()
            lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
            csv = "text\n" + "".join('"' + line.replace('"', '""') + '"\n' for line in lines)
            dv = c.post(
                "/api/dataset/upload",
                data={"name": "bench-corpus", "team_id": team["id"]},
                files={"file": ("c.csv", csv.encode())},
            ).json()
            for _ in range(600):
                if c.get(f"/api/dataset/version/{dv['id']}").json()["review_status"] == "scanned":
                    break
                time.sleep(0.2)
            assert c.post(f"/api/dataset/version/{dv['id']}/review", json={"decision": "approve"}).status_code == 200
            rows = []
            for i in range(JOBS):
                body = {
                    "base_version_id": version["id"],
                    "dataset_version_ids": [dv["id"]],
                    "column_mapping": {"text": "text"},
                    "method": "lora",
                    "hyperparameters": {"max_steps": 5, "batch_size": 8, "max_seq_length": 64, "save_steps": 5},
                    "executor": EXECUTOR,
                    "resources": {"cpu": 1, "memory_gb": 2},
                }
                started = time.perf_counter()
                job = c.post("/api/training/job/create", json=body).json()
                running = first_step = None
                while True:
                    j = c.get(f"/api/training/job/{job['id']}/status").json()
                    now = time.perf_counter() - started
                    running = running or (now if j["status"] in ("running", "succeeded") else None)
                    first_step = first_step or (now if j["progress"].get("step") else None)
                    if j["status"] in ("succeeded", "failed"):
                        break
                    time.sleep(0.05)
                assert j["status"] == "succeeded", j["status_reason"]
                rows.append(
                    {
                        "to_running_s": round(running, 3),
                        "to_first_step_s": round(first_step, 3),
                        "to_succeeded_s": round(now, 3),
                    }
                )
                print(f"job {i + 1}: {rows[-1]}", flush=True)
        finally:
            server.terminate()
            server.wait(60)
    summary = {
        k: {"p50": round(statistics.median(r[k] for r in rows), 3), "max": max(r[k] for r in rows)} for k in rows[0]
    }
    print(json.dumps(summary))
    (Path(__file__).parent / ("results.json" if EXECUTOR == "local" else f"results-{EXECUTOR}.json")).write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d"), "jobs": rows, "summary": summary}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
