"""Drift and anomalies in Chromium (Korean): the model dashboard's drift panel shows a shifted route's
features with their severity and the PSI chart, and the Anomalies tab lists a key's burst and
acknowledges it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from playwright.sync_api import Page, expect

from axops.core.db import libpq_url
from tests.browser import check_screen, ui_login
from tests.factories import ADMIN_PASSWORD, make_key, make_route

ALLOW = ["PSI", "KS", "D", "drift-ui", "burst", "API", "IP"]
_INSERT = """INSERT INTO usage_records (created_at, model, prompt_chars, prompt_tokens, hangul_ratio, latin_ratio,
    api_key_id, client_ip, endpoint, stream, status, completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
    VALUES (%s, %s, %s, %s, %s, %s, %s, '10.0.0.1', 'chat', false, 200, 5, 0, 10, 1, 'off', 0)"""


def test_drift_panel_and_anomalies_tab(api, admin, database_url, browser_page: Page):
    page = browser_page
    make_route(api, admin, "drift-ui", "http://127.0.0.1:9/v1")
    key = make_key(api, admin, "burst")
    now = datetime.now(UTC)
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):  # the week before: ~200 characters, Korean; the last day: ~400, English
        c = int(rng.normal(200, 30))
        rows.append((now - timedelta(days=8) + timedelta(days=7) * i / 300, "drift-ui", c, c // 3, 0.95, 0.04, None))
        c = int(rng.normal(400, 30))
        rows.append((now - timedelta(days=1) + timedelta(days=1) * i / 300, "drift-ui", c, c // 3, 0.03, 0.95, None))
    for h in range(2, 24 * 7 + 2):
        rows += [(now - timedelta(hours=h, minutes=5 * i), "m", 10, 3, None, None, key["id"]) for i in range(5)]
    rows += [(now - timedelta(seconds=20 + i), "m", 10, 3, None, None, key["id"]) for i in range(150)]
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(_INSERT, rows)
    assert "drift-ui" in api.post("/api/monitoring/drift/run", json={}, headers=admin).json()["routes"]
    assert api.post("/api/monitoring/anomalies/run", headers=admin).json()["changed"] >= 1

    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto("/monitoring/models/drift-ui")
    panel = page.get_by_test_id("drift-panel")
    expect(panel.get_by_test_id("drift-row-prompt_chars")).to_contain_text("프롬프트 길이")
    expect(panel.get_by_test_id("drift-severity-prompt_chars")).to_have_text("드리프트")
    expect(panel.get_by_test_id("drift-severity-hangul_ratio")).to_have_text("드리프트")
    expect(panel.get_by_test_id("drift-chart")).to_be_visible()
    expect(panel.get_by_test_id("drift-reference")).to_contain_text("직전 7일")
    check_screen(page, allow=ALLOW)

    page.goto("/monitoring?tab=anomalies")
    table = page.get_by_test_id("anomalies-table")
    expect(table).to_contain_text("burst")
    expect(table).to_contain_text("요청 급증")
    check_screen(page, allow=ALLOW)
    before = table.get_by_test_id("anomaly-ack").count()
    table.get_by_test_id("anomaly-ack").first.click()
    expect(table.get_by_test_id("anomaly-ack")).to_have_count(before - 1)
