"""SLOs, the monthly SLA report and the model dashboards over HTTP: a developer makes an SLO on a
route, the dashboard's figures match numpy on the same requests, and the report comes as JSON, HTML
(names escaped) and CSV (formulas neutralised)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from axops.core.db import libpq_url
from axops.gateway.models import Route
from axops.monitoring import slo_tasks
from tests.factories import insert_rows, live_and_dead_routes, make_account, make_route
from tests.mocks import MockUpstream


def _usage(database_url: str, route: str, rows: list[tuple[datetime, int, float, str]]) -> None:
    """Usage records of `route`: (time, status, latency ms, upstream)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO usage_records (created_at, endpoint, model, upstream, stream, status, prompt_tokens,
                   completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
               VALUES (%s, 'chat', %s, %s, false, %s, 10, 20, 0.5, %s, 1, %s, 0)""",
            [
                (at, route, up, status, lat, "hit" if i % 10 == 0 else "miss")
                for i, (at, status, lat, up) in enumerate(rows)
            ],
        )


def test_slo_journey_dashboard_figures_and_report(api, admin, database_url):
    make_route(api, admin, "chat-slo", "http://127.0.0.1:9/v1")
    dev = make_account(api, admin, "slo-dev", new_team="slo-team")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = np.random.default_rng(7)
    latencies = rng.lognormal(5, 0.6, 400).round(2)
    rows = []
    for i, lat in enumerate(latencies):
        status = 500 if i % 50 == 0 else 200  # 8 of 400
        rows.append((now - timedelta(minutes=50) + timedelta(seconds=i), status, float(lat), "v1" if i % 4 else "v2"))
    _usage(database_url, "chat-slo", rows)

    r = api.post(
        "/api/monitoring/slos",
        json={"name": "chat 성공률", "route": "chat-slo", "kind": "success"},
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    slo = r.json()
    assert slo["target"] == 99.0 and slo["team_name"] == "slo-team"
    assert slo["status"]["requests"] == 400 and slo["status"]["errors_5xx"] == 8
    assert abs(slo["status"]["attainment"] - 392 / 400) < 1e-9 and slo["status"]["met"] is False
    assert abs(slo["status"]["budget_remaining"] - (1 - 8 / 4)) < 1e-9

    listed = api.get("/api/monitoring/models", headers=dev.headers)
    assert listed.status_code == 200, listed.text
    row = next(m for m in listed.json() if m["route"] == "chat-slo")
    assert row["requests"] == 400 and abs(row["error_rate"] - 0.02) < 1e-9
    assert abs(row["p95_ms"] - np.percentile(latencies, 95)) < 1e-6
    assert [c["name"] for c in row["slos"]] == ["chat 성공률"]

    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}
    d = api.get("/api/monitoring/models/chat-slo", params={**window, "step": 3600}, headers=dev.headers)
    assert d.status_code == 200, d.text
    body = d.json()
    assert body["latency_source"] == "usage_records"
    total = body["totals"]
    assert total["requests"] == 400 and total["prompt_tokens"] == 4000 and total["cache_hits"] == 40
    for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
        assert abs(total[key] - np.percentile(latencies, q)) < 1e-6, key
    assert sum(s["requests"] for s in body["steps"]) == 400
    assert abs(sum(s["qps"] * body["step"] for s in body["steps"]) - 400) < 1e-6
    v2 = next(v for v in body["versions"] if v["upstream"] == "v2")
    assert v2["requests"] == 100 and abs(v2["p95_ms"] - np.percentile(latencies[::4], 95)) < 1e-6
    assert v2["error_rate"] == 0.04  # the failed i = 0, 100, 200, 300 went to v2 (i % 4 == 0)
    assert [s["name"] for s in body["slos"]] == ["chat 성공률"]

    year = api.get(
        "/api/monitoring/models/chat-slo",
        params={"from": (now - timedelta(days=900)).isoformat(), "to": now.isoformat(), "step": 1},
        headers=dev.headers,
    )
    assert year.status_code == 200, year.text
    wide = year.json()
    assert wide["latency_source"] == "metric_history" and wide["step"] % 3600 == 0
    assert (now - datetime.fromisoformat(wide["start"])).days == 400  # cut, not refused
    assert (datetime.fromisoformat(wide["end"]) - datetime.fromisoformat(wide["start"])).total_seconds() / wide[
        "step"
    ] <= 300
    assert wide["totals"]["requests"] == 400
    backwards = api.get(
        "/api/monitoring/models/chat-slo", params={"from": window["to"], "to": window["from"]}, headers=dev.headers
    )
    assert backwards.status_code == 422

    changed = api.patch(f"/api/monitoring/slos/{slo['id']}", json={"target": 97.5}, headers=dev.headers)
    assert changed.status_code == 200 and changed.json()["status"]["met"] is True
    assert api.delete(f"/api/monitoring/slos/{slo['id']}", headers=dev.headers).status_code == 204
    assert api.get(f"/api/monitoring/slos/{slo['id']}", headers=dev.headers).status_code == 404
    audit = api.get("/api/audit/logs", params={"resource_id": slo["id"]}, headers=admin).json()
    assert {"slo.create", "slo.update", "slo.delete"} <= {e["action"] for e in audit["items"]}


def test_sla_report_formats_escape_names_and_formulas(api, admin, database_url):
    # a route name no API would accept, written straight into the table: the report must still escape it
    evil_route = "<script>alert(1)</script>"
    insert_rows(database_url, Route, [{"model_name": evil_route, "targets": [], "fallbacks": []}])
    make_route(api, admin, "chat-report", "http://127.0.0.1:9/v1")
    dev = make_account(api, admin, "report-dev", new_team="<b>team</b>")
    now = datetime.now(UTC)
    month_start = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    at = month_start + timedelta(days=3, hours=5)
    _usage(database_url, "chat-report", [(at + timedelta(minutes=i), 502, 10.0, "v1") for i in range(3)])
    _usage(database_url, "chat-report", [(at + timedelta(hours=1), 200, 10.0, "v1")] * 7)
    for body in (
        {"name": "=cmd|' /C calc'!A0", "route": "chat-report", "kind": "availability"},
        {"name": "<img src=x onerror=alert(2)>", "route": evil_route, "kind": "success"},
    ):
        r = api.post("/api/monitoring/slos", json=body, headers=dev.headers)
        assert r.status_code == 201, r.text
    month = month_start.strftime("%Y-%m")

    js = api.get("/api/monitoring/sla-report", params={"month": month}, headers=dev.headers)
    assert js.status_code == 200, js.text
    report = js.json()
    assert report["complete"] is True and len(report["slos"]) == 2
    avail = next(e for e in report["slos"] if e["kind"] == "availability")
    assert avail["downtime_minutes"] == 3 and avail["requests"] == 10 and avail["errors_5xx"] == 3
    assert avail["incidents"][0]["minutes"] == 3 and avail["worst_days"][0]["day"] == at.date().isoformat()

    html = api.get("/api/monitoring/sla-report", params={"month": month, "format": "html"}, headers=dev.headers)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    page = html.text
    assert "<script>" not in page and "<img" not in page and "<b>team" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;team&lt;/b&gt;" in page

    text = api.get("/api/monitoring/sla-report", params={"month": month, "format": "csv"}, headers=dev.headers)
    assert text.status_code == 200 and "attachment" in text.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(text.text.lstrip("\ufeff"))))
    names = {line[1] for line in lines[1:]}
    assert "'=cmd|' /C calc'!A0" in names and not any(n.startswith("=") for n in names)

    bad = api.get("/api/monitoring/sla-report", params={"month": "2026-13"}, headers=dev.headers)
    assert bad.status_code == 422
    future = api.get("/api/monitoring/sla-report", params={"month": "2999-01"}, headers=dev.headers)
    assert future.status_code == 422 and future.json()["type"].endswith("sla_report_month")
    assert uuid.UUID(report["slos"][0]["id"])


def test_probes_and_budgets_recorded_each_minute(api, admin, live_server, database_url):
    """The gateway's real health probes (a working upstream and a closed port) become `gateway_route_up`
    points, which count as up and down minutes; each SLO's budget left is written for alert rules."""
    upstream = MockUpstream("A")
    try:
        live_and_dead_routes(api, admin, upstream.url)
        dev = make_account(api, admin, "probe-dev", new_team="probes")
        for route in ("chat-live", "chat-dead"):
            r = api.post("/api/monitoring/slos", json={"name": route, "route": route}, headers=dev.headers)
            assert r.status_code == 201, r.text
        state = live_server.app.state.axops
        gw = state.gateway

        async def probe_and_record():
            gw.table.invalidate()
            await gw.table.ensure(state.db, state.secret_key)
            await gw.check_health()
            await gw.check_health()  # the dead upstream fails twice: no healthy target left
            return await slo_tasks.record(state.db, gw, datetime.now(UTC) - timedelta(minutes=1))

        probes, budgets = asyncio.run_coroutine_threadsafe(probe_and_record(), live_server.server_loop).result(30)
        assert probes >= 2 and budgets == 2
    finally:
        upstream.stop()

    now = datetime.now(UTC)
    window = {"from": (now - timedelta(minutes=10)).isoformat(), "to": now.isoformat(), "step": 60}
    series = api.get("/api/monitoring/series", params={"name": "gateway_route_up", **window}, headers=admin).json()
    up = {s["labels"]["route"]: s["points"][-1][1] for s in series["series"]}
    assert up["chat-live"] == 1.0 and up["chat-dead"] == 0.0

    slos = {s["route"]: s["status"] for s in api.get("/api/monitoring/slos", headers=dev.headers).json()}
    assert slos["chat-dead"]["downtime_minutes"] == 1 and slos["chat-live"]["downtime_minutes"] == 0
    assert abs(slos["chat-dead"]["budget_remaining"] - (1 - 1 / 216)) < 1e-9
    budgets = api.get(
        "/api/monitoring/series", params={"name": "slo_error_budget_remaining", **window}, headers=admin
    ).json()
    assert {s["labels"]["route"] for s in budgets["series"]} == {"chat-live", "chat-dead"}
    assert all(s["points"][-1][1] == 1.0 for s in budgets["series"])  # written before the probes' minute closed
