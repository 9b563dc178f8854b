"""Control-plane API benchmark: authenticated GET /api/user/info and audit-log queries over
100,000 events, p50/p99 at concurrency 32, driven by wrk over loopback.

    make bench                       # embedded PostgreSQL in a temporary directory
    AXOPS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench

Results are printed and written to bench/api/results.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
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
sys.path.insert(0, str(ROOT / "src"))

from axops.core.db import libpq_url
from axops.core.embedded import start_embedded_postgres

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
DURATION = os.environ.get("BENCH_DURATION", "15s")
WORKERS = os.environ.get("BENCH_WORKERS", "1,2")
PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill_audit(url: str, n: int) -> None:
    """n events since the start of last month (the partitions that exist), mixed actors and actions, in one INSERT ... SELECT."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO audit_events (id, created_at, actor_id, actor_name, actor_type, action,
                                      resource_type, resource_id, team_id, summary, request_id, client_ip, outcome)
            SELECT gen_random_uuid(),
                   now() - (i * (now() - date_trunc('month', now() - interval '1 month')) / %(n)s),
                   NULL, 'user' || (i %% 200), 'user',
                   (ARRAY['auth.login','apikey.create','apikey.revoke','team.create','user.update',
                          'model.download','dataset.upload'])[1 + i %% 7],
                   'resource', (i %% 5000)::text, NULL,
                   jsonb_build_object('n', i, 'note', 'benchmark event'),
                   md5(i::text), '10.0.0.' || (i %% 250), CASE WHEN i %% 50 = 0 THEN 'failure' ELSE 'success' END
            FROM generate_series(1, %(n)s) AS i
            """,
            {"n": n},
        )
        conn.execute("ANALYZE audit_events")


def wrk(url: str, token: str, path: str) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(CONCURRENCY),
            "-d",
            DURATION,
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_ms": ms("50"),
        "p90_ms": ms("90"),
        "p99_ms": ms("99"),
        "req_per_s": rps,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


@contextlib.contextmanager
def migrated_database(tmp: Path, log_level: str = "INFO"):
    """A fresh, migrated database (on AXOPS_BENCH_DATABASE_URL's server, else an embedded one) and the
    environment and `axops` command that serve it; dropped afterwards."""
    server_url = os.environ.get("AXOPS_BENCH_DATABASE_URL")
    pg = None
    if not server_url:
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
        "AXOPS_LOG_LEVEL": log_level,
    }
    axops = str(Path(sys.executable).parent / "axops")
    try:
        subprocess.run([axops, "migrate"], env=env, check=True, capture_output=True)
        yield env, db_url, axops
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if pg is not None:
            pg.cleanup()


def start_server(
    env: dict, axops: str, log_path: Path, workers: int = 1, worker: bool = False
) -> tuple[subprocess.Popen, str]:
    """`axops up` on a free port (without the background worker unless asked), once it answers /readyz."""
    port = free_port()
    log = log_path.open("w")
    server = subprocess.Popen(
        [axops, "up", "--port", str(port), *([] if worker else ["--no-worker"]), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return server, base


def run_cases(env: dict, axops: str, tmp: Path, workers: int) -> dict:
    server, base = start_server(env, axops, tmp / f"server-{workers}.log", workers)
    results = {}
    try:
        token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        page = httpx.get(base + "/api/audit/logs?limit=50", headers=headers).json()
        for _ in range(20):  # a cursor 20 pages deep
            page = httpx.get(base + f"/api/audit/logs?limit=50&cursor={page['next_cursor']}", headers=headers).json()
        cases = {
            "GET /api/user/info": "/api/user/info",
            "GET /api/audit/logs (first page, 50)": "/api/audit/logs?limit=50",
            "GET /api/audit/logs (action filter, 50)": "/api/audit/logs?limit=50&action=apikey.revoke",
            "GET /api/audit/logs (actor + time range, 50)": "/api/audit/logs?limit=50&actor=user7"
            "&since=2000-01-01T00:00:00Z",
            "GET /api/audit/logs (page 21 by cursor, 50)": f"/api/audit/logs?limit=50&cursor={page['next_cursor']}",
        }
        print(f"-- axops up --workers {workers}")
        for label, path in cases.items():
            wrk(base, token, path)  # warm-up pass, discarded
            results[label] = r = wrk(base, token, path)
            print(
                f"{label:48s} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  {r['req_per_s']:8.0f} req/s"
                f"  errors {r['errors']}"
            )
    finally:
        server.terminate()
        server.wait(timeout=20)
    return results


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-"))
    results = {}
    with migrated_database(tmp) as (env, db_url, axops):
        started = time.perf_counter()
        fill_audit(db_url, EVENTS)
        print(f"inserted {EVENTS} audit events in {time.perf_counter() - started:.1f}s")
        for workers in [int(w) for w in WORKERS.split(",")]:
            results[f"{workers} process(es)"] = run_cases(env, axops, tmp, workers)
    out = {
        "events": EVENTS,
        "concurrency": CONCURRENCY,
        "duration": DURATION,
        "database": "external" if os.environ.get("AXOPS_BENCH_DATABASE_URL") else "embedded pgserver",
        "results": results,
    }
    (Path(__file__).parent / "results.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
