"""The system, training and data dashboards in Chromium against known data (tests/dashboards_scene.py): their
figures, panels and links, in Korean with no English left and no serious accessibility violation, and a team's
developer seeing only their team's jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import expect

from axops.core.db import libpq_url
from tests.browser import check_screen, ui_login, ui_logout
from tests.dashboards_scene import dashboards_scene
from tests.factories import ADMIN_PASSWORD, PASSWORD

ALLOW = ("alpha", "beta", "chat-alpha", "old-alpha", "secret-beta", "shared-beta", "GPU", "p95", "p50", "PHONE")


def _gpus(database_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url)) as conn:
        for gpu, value in (("0", 40.0), ("1", 80.0)):
            (sid,) = conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES ('gpu_utilization', %s::jsonb) RETURNING id",
                (f'{{"node": "n1", "gpu": "{gpu}"}}',),
            ).fetchone()
            for minutes in range(0, 60, 5):
                conn.execute(
                    "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s)",
                    (sid, now - timedelta(minutes=minutes + 1), value),
                )


def test_dashboards_in_the_browser(browser_page, api, admin, database_url):
    dashboards_scene(api, admin, database_url)
    _gpus(database_url)
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)

    page.goto("/monitoring?tab=system&range=1h&refresh=0")
    gpus = page.get_by_test_id("system-tile-gpus")
    expect(gpus.get_by_test_id("stat-value")).to_have_text("2")
    expect(gpus).to_contain_text("60")  # mean utilisation now, percent
    expect(page.get_by_test_id("system-tile-deployments").get_by_test_id("stat-value")).to_have_text("1")
    expect(page.get_by_test_id("chart-gpu_utilization").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("alerts-none")).to_be_visible()
    check_screen(page, ALLOW)

    page.goto("/monitoring?tab=training&range=7d&refresh=0")
    expect(page.get_by_test_id("training-tile-success").get_by_test_id("stat-value")).to_have_text("66.7%")
    expect(page.get_by_test_id("training-top-jobs")).to_contain_text("a1")
    expect(page.get_by_test_id("training-queued")).to_contain_text("b-queued")
    expect(page.get_by_test_id("training-outcomes").locator("canvas")).to_be_visible()
    check_screen(page, ALLOW)

    page.goto("/monitoring?tab=data&range=7d&refresh=0")
    expect(page.get_by_test_id("data-quality")).to_contain_text("말뭉치-alpha")
    lineage = page.get_by_test_id("data-lineage")
    expect(lineage.get_by_role("link", name="말뭉치-모델 v2")).to_be_visible()
    expect(lineage.locator("canvas")).to_be_visible()
    check_screen(page, ALLOW)
    lineage.get_by_role("link", name="말뭉치-alpha v1").click()
    page.wait_for_url("**/datasets/*")

    # beta's developer: beta's jobs only
    ui_logout(page)
    ui_login(page, "dash-beta", PASSWORD)
    page.goto("/monitoring?tab=training&range=7d&refresh=0")
    top = page.get_by_test_id("training-top-jobs")
    expect(top).to_contain_text("b1")
    expect(top).not_to_contain_text("a1")
    expect(page.get_by_test_id("training-queued")).not_to_contain_text("a-queued")
