"""Registry benchmark: 1 GB version upload/download throughput through the API versus a plain
file copy on the same disk, and model search latency over 100,000 registered models.

    make bench-registry          (or: .venv/bin/python bench/registry/run.py)

Knobs: BENCH_SIZE_MB (1024), BENCH_MODELS (100000), BENCH_CONCURRENCY (32), BENCH_DURATION (15s).
Results are printed and written to bench/registry/results.json.
"""

from __future__ import annotations

import json
import os
import shutil
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

from run import start_server, wrk

from axops.core.db import libpq_url
from axops.core.embedded import start_embedded_postgres

SIZE_MB = int(os.environ.get("BENCH_SIZE_MB", "1024"))
MODELS = int(os.environ.get("BENCH_MODELS", "100000"))
CHUNK = 64 * 1024 * 1024
PASSWORD = "bench-admin-password"


def fill_models(url: str, team_id: str, n: int) -> None:
    words = ["chat", "embed", "korean", "legal", "medical", "code", "summary", "vision", "speech", "finance"]
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO registered_models (id, name, description, task, tags, team_id, visibility, architecture,
                                           parameter_count, card_text, created_at, updated_at)
            SELECT gen_random_uuid(), 'model-' || i,
                   'A ' || (%(w)s::text[])[1 + i %% 10] || ' model number ' || i || ' 한국어 모델',
                   (ARRAY['text-generation','embedding','classification'])[1 + i %% 3],
                   ARRAY[(%(w)s::text[])[1 + i %% 10], 'size:' || (i %% 4)],
                   %(team)s, 'organization',
                   (ARRAY['LlamaForCausalLM','GPT2LMHeadModel','BertModel','Qwen2ForCausalLM'])[1 + i %% 4],
                   (i %% 1000 + 1)::bigint * 10000000, 'card of model ' || i,
                   now() - i * interval '1 second', now()
            FROM generate_series(1, %(n)s) AS i
            """,
            {"w": words, "team": team_id, "n": n},
        )
        conn.execute("ANALYZE registered_models")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-registry-"))
    pg, server_url = start_embedded_postgres(tmp, database="postgres")
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
    results: dict = {"size_mb": SIZE_MB, "models": MODELS}
    try:
        client = httpx.Client(base_url=base, timeout=600)
        token = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        team = client.post("/api/teams", json={"name": "bench"}, headers=h).json()
        client.put(f"/api/teams/{team['id']}/members/{client.get('/api/user/info', headers=h).json()['id']}", headers=h)
        token = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        model = client.post("/api/model/register", json={"name": "bench-big", "team_id": team["id"]}, headers=h).json()

        weights = tmp / "weights.bin"
        block = os.urandom(1024 * 1024)
        with weights.open("wb") as f:
            for _ in range(SIZE_MB):
                f.write(block)
        size = weights.stat().st_size
        started = time.perf_counter()
        shutil.copyfile(weights, tmp / "copy.bin")
        os.sync()
        copy_s = time.perf_counter() - started
        (tmp / "copy.bin").unlink()

        def upload(chunk_size: int) -> tuple[float, str]:
            started = time.perf_counter()
            version = client.post(
                f"/api/model/{model['id']}/uploads", json={"files": [{"path": "weights.bin", "size": size}]}, headers=h
            ).json()
            offset = 0
            while offset < size:
                n = min(chunk_size, size - offset)

                def body(offset=offset, n=n):
                    with weights.open("rb") as f:
                        f.seek(offset)
                        left = n
                        while left and (block := f.read(min(8 * 2**20, left))):
                            left -= len(block)
                            yield block

                r = client.put(
                    f"/api/model/upload/{version['id']}/weights.bin",
                    params={"offset": offset},
                    content=body(),
                    headers={**h, "Content-Length": str(n)},
                )
                r.raise_for_status()
                offset += n
            client.post(f"/api/model/version/{version['id']}/complete", headers=h).raise_for_status()
            os.sync()
            return time.perf_counter() - started, version["id"]

        chunked_s, _ = upload(CHUNK)
        upload_s, version_id = upload(size)
        started = time.perf_counter()
        received = 0
        with client.stream("GET", f"/api/model/version/{version_id}/files/weights.bin", headers=h) as r:
            for chunk in r.iter_bytes(1024 * 1024):
                received += len(chunk)
        download_s = time.perf_counter() - started
        assert received == size
        mb = size / 2**20
        results["throughput"] = {
            "file_copy_mb_s": round(mb / copy_s),
            "upload_one_request_mb_s": round(mb / upload_s),
            "upload_chunked_mb_s": round(mb / chunked_s),
            "download_mb_s": round(mb / download_s),
            "upload_one_request_vs_copy": round(copy_s / upload_s, 2),
            "upload_chunked_vs_copy": round(copy_s / chunked_s, 2),
            "download_vs_copy": round(copy_s / download_s, 2),
        }
        print(json.dumps(results["throughput"]))
        weights.unlink()

        started = time.perf_counter()
        fill_models(db_url, team["id"], MODELS)
        print(f"inserted {MODELS} models in {time.perf_counter() - started:.1f}s")
        cases = {
            "full text (q=legal)": "/api/model?q=legal&limit=50",
            "full text, Korean (q=한국어)": "/api/model?q=%ED%95%9C%EA%B5%AD%EC%96%B4&limit=50",
            "filters (task + architecture + params)": "/api/model?task=embedding&architecture=BertModel&min_params=1000000000&limit=50",
            "tag filter": "/api/model?tag=medical&limit=50",
            "no filter, first page": "/api/model?limit=50",
        }
        results["search"] = {}
        for label, path in cases.items():
            wrk(base, token, path)
            results["search"][label] = r = wrk(base, token, path)
            print(
                f"{label:42s} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  {r['req_per_s']:7.0f} req/s  errors {r['errors']}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    (Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
