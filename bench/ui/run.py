"""UI benchmark: how long every page of the web UI takes until its data is on screen, in Chromium,
against `axops up` on a database holding ~1M gateway usage records (and a few of everything else,
so that detail pages open a real id). Also times GET /api/home on its own.

    BENCH_WEB_DIST=/path/to/dist .venv/bin/python bench/ui/run.py     # default web/dist (make web)
    AXOPS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/ui/run.py

Knobs: BENCH_USAGE_RECORDS (1000000), BENCH_USAGE_DAYS (14, at most back to the start of last month:
the partitions a fresh database has), BENCH_REPEAT (5 loads per page after one warm-up),
AXOPS_CHROMIUM (/usr/bin/chromium). Writes bench/ui/results.json. Not part of the test suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops.core.db import libpq_url
from axops.datasets.models import DatasetVersion
from axops.registry.models import ModelVersion
from axops.serving.models import Deployment
from axops.training.models import TrainingJob, TrainingSweep

# the API bench's database and server scaffolding (a fresh migrated database, `axops up` on a free port)
_spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api" / "run.py")
bench_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_api)

RECORDS = int(os.environ.get("BENCH_USAGE_RECORDS", "1000000"))
DAYS = float(os.environ.get("BENCH_USAGE_DAYS", "14"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
CHROMIUM = os.environ.get("AXOPS_CHROMIUM", "/usr/bin/chromium")
WEB_DIST = Path(os.environ.get("BENCH_WEB_DIST") or ROOT / "web" / "dist")
PASSWORD = bench_api.PASSWORD
DEV_PASSWORD = "bench-dev-password"
TIMEOUT_MS = 15_000


def insert(db_url: str, model, rows: list[dict]) -> list:
    """ORM rows straight into the database (Python-side defaults applied); their ids."""
    from sqlalchemy import create_engine
    from sqlalchemy import insert as sa_insert

    engine = create_engine(libpq_url(db_url).replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            return [conn.execute(sa_insert(model).values(**r).returning(model.id)).scalar_one() for r in rows]
    finally:
        engine.dispose()


def fill_usage(db_url: str, users: list[str], teams: list[str], n: int, days: float) -> float:
    """n usage records spread evenly over the last `days` days, in one INSERT ... SELECT; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        oldest = conn.execute("SELECT date_trunc('month', now() - interval '1 month')").fetchone()[0]
        span = min(days * 86400, (datetime.now(UTC) - oldest).total_seconds() - 60)
        conn.execute(
            """
            INSERT INTO usage_records (id, created_at, request_id, user_id, team_id, endpoint, model, upstream,
                                       stream, status, prompt_tokens, completion_tokens, cost, latency_ms,
                                       ttft_ms, attempts, cache, saved_cost)
            SELECT gen_random_uuid(), now() - make_interval(secs => i * %(span)s / %(n)s), md5(i::text),
                   (%(users)s::uuid[])[1 + i %% array_length(%(users)s::uuid[], 1)],
                   (%(teams)s::uuid[])[1 + i %% array_length(%(teams)s::uuid[], 1)],
                   'chat', (ARRAY['bench-chat','gpt-4o-mini','llama-3-8b','qwen-7b'])[1 + i %% 4],
                   'bench-provider/m' || (i %% 3), i %% 3 = 0,
                   CASE WHEN i %% 97 = 0 THEN 500 WHEN i %% 89 = 0 THEN 429 ELSE 200 END,
                   20 + i %% 500, 10 + i %% 300, (20 + i %% 500) * 0.000001 + (10 + i %% 300) * 0.000002,
                   40 + (i::bigint * 7919) %% 2000, 20 + (i::bigint * 104729) %% 300, 1 + (i %% 50 = 0)::int,
                   (ARRAY['off','miss','hit'])[1 + i %% 3], 0
            FROM generate_series(1, %(n)s) AS i
            """,
            {"n": n, "span": span, "users": users, "teams": teams},
        )
        conn.execute("VACUUM ANALYZE usage_records")  # as autovacuum would soon after: index-only scans need it
    return time.perf_counter() - started


def _scans(node: dict, found: list[str]) -> None:
    if "Scan" in node["Node Type"]:
        found.append(f"{node['Node Type']} using {node.get('Index Name', '-')} on {node.get('Relation Name')}")
    for child in node.get("Plans", []):
        _scans(child, found)


def explain_home_usage(db_url: str, user_id: str) -> dict:
    """The plan and time of the home page's last-24-hours query (gateway.usage_queries.hourly), for
    everyone (gateway admins) and for one user."""
    from axops.gateway.usage_queries import hourly_sql

    out = {}
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        for who, own in (("all", False), ("own", True)):
            sql = hourly_sql(own).replace(":since", "%(since)s").replace(":until", "%(until)s").replace(":me", "%(me)s")
            params = {"since": datetime.now(UTC) - timedelta(hours=24), "until": datetime.now(UTC), "me": user_id}
            plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0][0]
            scans: list[str] = []
            _scans(plan["Plan"], scans)
            out[who] = {"execution_ms": round(plan["Execution Time"], 1), "scans": sorted(set(scans))}
            print(f"last-24-h query ({who}): {out[who]['execution_ms']} ms; {'; '.join(out[who]['scans'])}")
    return out


def seed(base: str, db_url: str) -> dict:
    """A developer in a team, a model with a version, a dataset waiting for review, a route, a
    deployment, jobs (running, queued, done, a sweep's), experiment runs, an API key; then the usage."""
    admin = {
        "Authorization": "Bearer "
        + httpx.post(base + "/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
    }
    c = httpx.Client(base_url=base, headers=admin, timeout=60)

    def ok(r: httpx.Response) -> dict:
        assert r.status_code < 300, r.text
        return r.json()

    team = ok(c.post("/api/teams", json={"name": "bench-team"}))
    dev = ok(
        c.post(
            "/api/users",
            json={"username": "bench-dev", "password": DEV_PASSWORD, "role": "developer", "team_ids": [team["id"]]},
        )
    )
    me = ok(c.get("/api/user/info"))
    model = ok(
        c.post("/api/model/register", json={"name": "bench-model", "task": "text-generation", "team_id": team["id"]})
    )
    (version,) = insert(db_url, ModelVersion, [{"model_id": model["id"], "version": 1}])
    ds = ok(
        c.post(
            "/api/dataset/upload",
            data={"name": "bench-corpus", "team_id": team["id"]},
            files={"file": ("corpus.csv", b"text\n" + b"".join(b"row %d\n" % i for i in range(200)))},
        )
    )
    (scanned,) = insert(
        db_url,
        DatasetVersion,
        [
            {
                "dataset_id": ds["dataset_id"],
                "version": 2,
                "filename": "b.csv",
                "status": "ready",
                "review_status": "scanned",
                "row_count": 200,
            }
        ],
    )
    provider = ok(c.post("/api/gateway/providers", json={"name": "bench-provider", "base_url": "http://127.0.0.1:9"}))
    ok(
        c.post(
            "/api/gateway/routes",
            json={"model_name": "bench-route", "targets": [{"provider_id": provider["id"], "model": "m"}]},
        )
    )
    (deployment,) = insert(
        db_url,
        Deployment,
        [
            {
                "name": "bench-chat",
                "team_id": team["id"],
                "model_id": model["id"],
                "version_id": version,
                "executor": "kubernetes",  # no process of this machine's executor picks it up
                "status": "ready",
                "replicas": [{"index": 0, "state": "ready"}],
            }
        ],
    )
    (sweep,) = insert(
        db_url, TrainingSweep, [{"name": "bench-sweep", "team_id": team["id"], "strategy": "grid", "space": {}}]
    )
    job = {
        "team_id": team["id"],
        "base_version_id": version,
        "dataset_version_ids": [scanned],
        "column_mapping": {"text": "text"},
        "method": "lora",
        "hyperparameters": {"max_steps": 100},
        "resources": {"gpus": 0},
        "executor": "kubernetes",
    }
    jobs = insert(
        db_url,
        TrainingJob,
        [
            {**job, "name": "bench-job-running", "status": "running", "progress": {"step": 40, "max_steps": 100}},
            {**job, "name": "bench-job-queued", "status": "queued"},
            {**job, "name": "bench-job-done", "status": "succeeded"},
            {**job, "name": "bench-trial-1", "status": "succeeded", "sweep_id": sweep},
        ],
    )
    runs = []
    for i in range(1, 4):
        run = ok(
            c.post(
                "/api/experiments/runs",
                json={
                    "experiment_name": "bench-exp",
                    "name": f"bench-run-{i}",
                    "params": {"lr": str(0.01 * i)},
                    "tags": {},
                },
            )
        )
        ok(
            c.post(
                f"/api/experiments/runs/{run['id']}/log-batch",
                json={
                    "metrics": [{"key": "loss", "value": 1.0 / (s + i), "step": s} for s in range(50)],
                    "params": {},
                    "tags": {},
                },
            )
        )
        runs.append(run["id"])
    ok(c.post("/api/apikey/create", json={"name": "bench-key"}))
    chat = [{"role": "system", "content": "You answer in {{ lang }}."}, {"role": "user", "content": "{{ question }}"}]
    variables = [{"name": n, "type": "string"} for n in ("lang", "question")]
    ok(
        c.post(
            "/api/prompts",
            json={
                "name": "bench-prompt",
                "version": {"kind": "chat", "template": chat, "variables": variables, "message": "v1"},
                "labels": ["production"],
            },
        )
    )
    seconds = fill_usage(db_url, [me["id"], me["id"], me["id"], me["id"], dev["id"]], [team["id"]], RECORDS, DAYS)
    print(f"inserted {RECORDS:,} usage records over {DAYS:g} days in {seconds:.1f}s")
    return {
        "explain": explain_home_usage(db_url, dev["id"]),
        "model": model["id"],
        "dataset": ds["dataset_id"],
        "deployment": str(deployment),
        "job": str(jobs[0]),
        "sweep": str(sweep),
        "runs": runs,
    }


def pages(ids: dict) -> list[tuple[str, str, str, str]]:
    """(route, URL, CSS selector, text pattern) for every route in web/src/router.ts: the page's data
    is on screen when an element matching the selector is rendered with text matching the pattern."""
    return [
        ("/ (home)", "/", '[data-testid="home-deployment-bench-chat"]', "bench-chat"),
        ("/models", "/models", "main", "bench-model"),
        ("/models/:id", f"/models/{ids['model']}", "main h1", "bench-model"),
        ("/datasets", "/datasets", "main", "bench-corpus"),
        ("/datasets/:id", f"/datasets/{ids['dataset']}", "main h1", "bench-corpus"),
        ("/prompts", "/prompts", "main", "bench-prompt"),
        ("/prompts/:name", "/prompts/bench-prompt", "main h1", "bench-prompt"),
        ("/playground", "/playground", "main", "bench-route"),
        ("/gateway/usage", "/gateway/usage", '[data-testid="usage-stat-requests"]', r"\d{2}"),
        ("/gateway/routes", "/gateway/routes", "main", "bench-route"),
        ("/gateway/logs", "/gateway/logs", "main table tbody", "bench-provider"),
        ("/training", "/training", "main", "bench-job-running"),
        ("/training/sweeps", "/training/sweeps", "main", "bench-sweep"),
        ("/training/sweeps/:id", f"/training/sweeps/{ids['sweep']}", "main h1", "bench-sweep"),
        ("/training/queue", "/training/queue", "main", "bench-job-queued"),
        ("/training/jobs/:id", f"/training/jobs/{ids['job']}", "main h1", "bench-job-running"),
        ("/experiments", "/experiments", "main", "bench-run-3"),
        ("/experiments/compare", f"/experiments/compare?runs={','.join(ids['runs'][:2])}", "main", "bench-run-2"),
        ("/experiments/runs/:id", f"/experiments/runs/{ids['runs'][0]}", "main h1", "bench-run-1"),
        ("/deployments", "/deployments", "main", "bench-chat"),
        ("/deployments/:id", f"/deployments/{ids['deployment']}", "main h1", "bench-chat"),
        ("/apikeys", "/apikeys", "main", "bench-key"),
        ("/admin/users", "/admin/users", "main", "bench-dev"),
        ("/admin/teams", "/admin/teams", "main", "bench-team"),
        ("/audit", "/audit", "main table tbody", "admin"),
        ("/profile", "/profile", "main", "admin"),
        ("/* (not found)", "/no-such-page", '[data-testid="not-found"]', ""),
    ]


# Installed in every page: watches the DOM from the first byte and notes (performance.now(), i.e. ms since
# the navigation started) the first frame in which the awaited element is rendered with its text — measured in the
# page, so the figure does not include the benchmark's own polling.
WATCH_JS = """
window.__bench = null;
const want = JSON.parse(sessionStorage.getItem('bench-want') || 'null');
if (want) {
  const pattern = new RegExp(want.text);
  let queued = false;
  const check = () => {
    queued = false;
    if (window.__bench !== null) return;
    for (const el of document.querySelectorAll(want.css)) {
      if (pattern.test(el.textContent || '') && el.getClientRects().length) {
        window.__bench = performance.now();
        return;
      }
    }
  };
  // at most one look per frame (before it is painted), so the watch itself forces no extra layouts
  new MutationObserver(() => {
    if (!queued && window.__bench === null) {
      queued = true;
      requestAnimationFrame(check);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}
"""


def measure(base: str, ids: dict) -> dict:
    out: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        # bypass_csp: the in-page watch is polled by evaluating a string, which the app's CSP (rightly) forbids
        context = browser.new_context(
            base_url=base, locale="ko-KR", viewport={"width": 1440, "height": 900}, bypass_csp=True
        )
        context.add_init_script(WATCH_JS)
        page = context.new_page()
        page.goto("/login")
        page.locator('[data-testid="login-username"] input, input[data-testid="login-username"]').first.fill("admin")
        page.locator('[data-testid="login-password"] input, input[data-testid="login-password"]').first.fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("nav-home").wait_for()
        for label, url, css, pattern in pages(ids):
            page.evaluate("w => sessionStorage.setItem('bench-want', JSON.stringify(w))", {"css": css, "text": pattern})
            times, error = [], None
            for attempt in range(REPEAT + 1):  # the first load warms caches and is not counted
                try:
                    page.goto(url, wait_until="commit")
                    page.wait_for_function("window.__bench !== null", timeout=TIMEOUT_MS)
                    ms = page.evaluate("window.__bench")
                except Exception as e:  # a page that never shows its data is reported, not fatal
                    error = str(e).splitlines()[0][:200]
                    break
                if attempt:
                    times.append(ms)
            # what the last load waited for: its API calls (start and duration, ms since navigation start)
            calls = page.evaluate(
                "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/'))"
                ".map(e => [new URL(e.name).pathname, Math.round(e.startTime), Math.round(e.duration)])"
            )
            row = {"url": url, "selector": css, "text": pattern, "api_calls": calls}
            if times:
                row |= {"median_ms": round(statistics.median(times)), "max_ms": round(max(times)), "runs": len(times)}
            if error:
                row["error"] = error
            out[label] = row
            shown = f"median {row['median_ms']:5d} ms  max {row['max_ms']:5d} ms" if times else "—"
            print(f"{label:26s} {shown}  {error or ''}")
        browser.close()
    return out


def time_home_api(base: str) -> dict:
    """GET /api/home alone (server time as the client sees it), 20 calls after a warm-up, per role."""
    figures = {}
    for who, password in (("admin", PASSWORD), ("bench-dev", DEV_PASSWORD)):
        token = httpx.post(base + "/api/auth/login", json={"username": who, "password": password}).json()[
            "access_token"
        ]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/api/home").status_code == 200
            samples = []
            for _ in range(20):
                started = time.perf_counter()
                r = c.get("/api/home")
                samples.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
            body = r.json()
        figures[who] = {
            "median_ms": round(statistics.median(samples), 1),
            "max_ms": round(max(samples), 1),
            "requests_24h": body["usage"]["totals"]["requests"],
        }
        print(
            f"GET /api/home as {who:10s} median {figures[who]['median_ms']:6.1f} ms  max {figures[who]['max_ms']:6.1f} ms"
            f"  ({figures[who]['requests_24h']:,} requests in its last 24 h)"
        )
    return figures


def main() -> None:
    if not (WEB_DIST / "index.html").exists():
        sys.exit(f"no built UI at {WEB_DIST}: run `make web`, or set BENCH_WEB_DIST")
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium not found at {CHROMIUM}")
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-ui-"))
    with bench_api.migrated_database(tmp, log_level="WARNING") as (env, db_url, axops):
        env = {**env, "AXOPS_WEB_DIST": str(WEB_DIST), "AXOPS_GATEWAY_HEALTH_INTERVAL_S": "0"}
        server, base = bench_api.start_server(env, axops, tmp / "server.log")
        try:
            ids = seed(base, db_url)
            home_api = time_home_api(base)
            results = measure(base, ids)
        finally:
            server.terminate()
            server.wait(timeout=20)
    slow = {k: v for k, v in results.items() if v.get("median_ms", 10**9) > 1000}
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "usage_records": RECORDS,
        "usage_days": DAYS,
        "repeat": REPEAT,
        "database": "external" if os.environ.get("AXOPS_BENCH_DATABASE_URL") else "embedded pgserver",
        "run": str(uuid.uuid4())[:8],
        "home_api": home_api,
        "home_usage_query": ids["explain"],
        "pages": results,
        "over_1s": sorted(slow),
    }
    (Path(__file__).parent / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    print("pages over 1 s:", ", ".join(sorted(slow)) or "none")


if __name__ == "__main__":
    main()
