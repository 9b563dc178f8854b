"""The model dashboards and SLOs in Chromium (Korean): a route's row shows its last day, its dashboard draws the
charts and the per-version table, an SLO made in the dialog appears with its budget, and the monthly report
opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from axops.core.db import libpq_url
from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, make_account, make_route

ALLOW = ["SLO", "chat-ui", "v1", "v2", "ui-team", "ui-dev", "가용성 목표"]


def test_model_dashboard_and_slo_in_the_browser(api, admin, database_url, browser_page: Page):
    page = browser_page
    make_route(api, admin, "chat-ui", "http://127.0.0.1:9/v1")
    make_account(api, admin, "ui-dev", new_team="ui-team")
    now = datetime.now(UTC)
    rows = [
        (
            now - timedelta(minutes=30) + timedelta(seconds=i),
            "v1" if i % 2 else "v2",
            500 if i % 20 == 0 else 200,
            50 + i,
        )
        for i in range(60)
    ]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO usage_records (created_at, endpoint, model, upstream, stream, status, prompt_tokens,
                   completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
               VALUES (%s, 'chat', 'chat-ui', %s, false, %s, 10, 20, 0.01, %s, 1, 'off', 0)""",
            rows,
        )

    ui_login(page, "ui-dev", PASSWORD)
    page.goto("/alerts?tab=slos")
    page.get_by_test_id("slo-new").click()
    field(page, "slo-form-name").fill("가용성 목표")
    pick(page, "slo-form-route", "chat-ui")
    page.get_by_test_id("slo-form-submit").click()
    expect(page.get_by_test_id("slo-row")).to_have_text("가용성 목표")
    check_screen(page, allow=ALLOW)

    page.get_by_test_id("sla-report").click()
    with page.expect_download() as download:
        page.get_by_test_id("sla-report-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.keyboard.press("Escape")

    page.goto("/monitoring?tab=models")
    row = page.get_by_test_id("model-dashboard-row").filter(has_text="chat-ui")
    expect(row).to_be_visible()
    expect(page.get_by_test_id("model-slo-chip")).to_contain_text("가용성 목표")
    check_screen(page, allow=ALLOW)
    row.click()
    page.wait_for_url("**/monitoring/models/chat-ui**")
    expect(page.get_by_test_id("model-dashboard")).to_be_visible()
    expect(page.get_by_test_id("model-slo-card")).to_contain_text("가용성 목표")
    expect(page.get_by_test_id("model-version-row")).to_have_count(3)  # v1, v2 and the total
    expect(page.get_by_test_id("model-chart-latency").locator("canvas")).to_be_visible()
    check_screen(page, allow=ALLOW)
