"""Alerting in the browser (Korean): a developer writes a rule in the dialog, sees the live preview say which GPU
would fire, saves it; after one evaluation cycle the alert is listed as firing on the Alerts page and acknowledged
there. Each screen passes check_screen (no English in the Korean UI, axe)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import PASSWORD, make_account
from tests.integration.test_alerts import run_cycle, write_points

# The test's data, label names, and the expression language's keywords in the field's hint.
ALLOW = ("ui-alert-node", "alert-dev", "alert-team", "node", "gpu", "route", "value", "labels")
ALLOW += tuple("avg min max sum last count delta absent offset and or".split())


def test_an_alert_rule_made_in_the_ui_fires_and_is_acknowledged(api, admin, database_url, browser_page: Page):
    page = browser_page
    now = datetime.now(UTC).replace(microsecond=0)
    for gpu, temperature in (("0", 93.0), ("1", 55.0)):
        write_points(
            database_url,
            "gpu_temperature_c",
            f'{{"node": "ui-alert-node", "gpu": "{gpu}"}}',
            [(now - timedelta(seconds=20), temperature)],
        )
    make_account(api, admin, "alert-dev", new_team="alert-team")

    ui_login(page, "alert-dev", PASSWORD)
    page.goto("/alerts?tab=rules")
    page.get_by_test_id("alert-rule-new").click()
    field(page, "alert-rule-name").fill("GPU 과열 (UI)")
    field(page, "alert-rule-expression").fill('last(gpu_temperature_c{node="ui-alert-node"}[5m]) >= 85')
    preview = page.get_by_test_id("alert-rule-preview")
    expect(preview).to_contain_text("93")
    expect(preview).to_contain_text("55")
    expect(preview).to_contain_text("레이블 조합 2개 중 1개가 발생 조건을 충족합니다")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("alert-rule-save").click()
    row = page.get_by_test_id("alert-rule-row").filter(has_text="GPU 과열 (UI)")
    expect(row).to_be_visible()

    (made,) = [r for r in api.get("/api/alerts/rules", headers=admin).json()["items"] if r["name"] == "GPU 과열 (UI)"]
    assert made["expression"] == 'last(gpu_temperature_c{node="ui-alert-node"}[5m]) >= 85' and made["for"] == "0s"

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        pool.submit(run_cycle, database_url, now).result()
    page.goto("/alerts?tab=active")
    firing = page.get_by_test_id("alert-row")
    expect(firing).to_have_count(1)
    expect(page.get_by_test_id("alerts-active")).to_contain_text("GPU 과열 (UI)")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("alert-ack").click()
    expect(page.get_by_test_id("alert-ack")).to_have_count(0)
    (alert,) = api.get("/api/alerts", params={"state": "firing"}, headers=admin).json()["items"]
    assert alert["labels"]["gpu"] == "0" and alert["acked_by_name"] == "alert-dev"
