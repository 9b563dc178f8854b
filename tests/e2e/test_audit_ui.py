"""The audit log page in Chromium (issue 14 item 9): known events read as sentences in Korean, the per-day
chart shows the server's counts over the whole filter (more events than one page), a filter that matches
nothing says so and clears, and an event's drawer shows its details with a link to its resource."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_a11y, check_page, field, ui_login
from tests.factories import ADMIN_PASSWORD, insert_audit_events, make_team, register_model


def test_audit_page_chart_no_match_and_drawer(browser_page: Page, api: httpx.Client, admin, database_url):
    page = browser_page
    make_team(api, admin, "audit-ops")
    model = register_model(api, admin, "audit-llama")
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [noon - timedelta(days=3), noon - timedelta(days=2), noon - timedelta(days=1)]
    insert_audit_events(
        database_url,
        [
            {"created_at": day + timedelta(seconds=i), "action": "team.update", "actor_name": "bulk-bot"}
            for day, count in zip(days, (60, 30, 12), strict=True)
            for i in range(count)
        ],
    )

    ui_login(page, "admin", ADMIN_PASSWORD)
    page.get_by_test_id("nav-audit").click()
    table = page.get_by_test_id("audit-table")
    # Known events, as sentences in Korean rather than JSON.
    expect(table).to_contain_text("모델 audit-llama 등록", timeout=15_000)
    expect(table).to_contain_text("팀 audit-ops 생성")
    expect(table.get_by_test_id("state-loading")).to_have_count(0)

    # The chart and the total are the server's counts over everything the filter matches, not the 50 rows loaded.
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    server = api.get("/api/audit/logs/per-day", params={"tz": zone}, headers=admin).json()
    assert server["total"] > 100
    bars = page.get_by_test_id("audit-per-day").locator("li")
    expect(bars).to_have_count(len(server["days"]))
    shown = {li.get_attribute("data-day"): int(li.get_attribute("data-count")) for li in bars.all()}
    assert shown == {d["day"]: d["count"] for d in server["days"]}
    assert sorted(shown.values())[-1] >= 60
    expect(page.get_by_test_id("audit-total")).to_have_text(f"총 {server['total']:,}건")
    expect(page.get_by_test_id("table-count")).to_contain_text(f"{server['total']:,}")
    check_page(page, allow=("audit-llama", "audit-ops", "bulk-bot", "admin"))
    # The table and chart (the field labels' contrast and the sidebar list are the shared theme's and App's).
    check_a11y(page, include='[data-testid="audit-table"]')
    check_a11y(page, include='[data-testid="audit-chart"]')

    # Filtering to one action family narrows the chart too.
    field(page, "audit-filter-action").fill("team.")
    page.get_by_test_id("audit-apply").click()
    expect(page.get_by_test_id("audit-total")).to_have_text("총 103건")  # 102 inserted + the team created above

    # A filter that matches nothing says so (not "none yet", not "loading") and clears with one button.
    field(page, "audit-filter-actor").fill("nobody-at-all")
    page.get_by_test_id("audit-apply").click()
    expect(page.get_by_test_id("state-no-match")).to_be_visible()
    expect(page.get_by_test_id("state-loading")).to_have_count(0)
    expect(page.get_by_test_id("state-empty")).to_have_count(0)
    expect(page.get_by_test_id("audit-total")).to_have_text("총 0건")
    page.get_by_test_id("state-clear").click()
    expect(table).to_contain_text("모델 audit-llama 등록")
    expect(field(page, "audit-filter-actor")).to_have_value("")

    # Sorting by action asks the server: the first row is then the alphabetically first action.
    table.locator("th", has_text="작업").first.click()
    expect(table.locator("tbody tr").first).to_contain_text("로그인")  # auth.login comes first

    # An event's drawer: who, what, when, the resource with a working link, the details as JSON.
    field(page, "audit-filter-action").fill("model.register")
    page.get_by_test_id("audit-apply").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    table.locator("tbody tr").first.click()
    drawer = page.get_by_test_id("audit-drawer")
    expect(drawer.get_by_test_id("audit-drawer-summary")).to_have_text("모델 audit-llama 등록")
    expect(drawer).to_contain_text("admin")
    expect(drawer.get_by_test_id("audit-drawer-resource")).to_contain_text(model["id"])
    details = json.loads(drawer.get_by_test_id("audit-drawer-json").inner_text())
    assert details["name"] == "audit-llama"
    check_page(page, allow=("audit-llama", "admin"))
    check_a11y(page, include='[data-testid="audit-drawer"]')
    page.keyboard.press("Escape")  # closes the drawer ...
    expect(drawer.get_by_test_id("audit-drawer-summary")).to_have_count(0)
    table.locator("tbody tr").first.click()  # ... and a row opens it again
    drawer.get_by_test_id("audit-drawer-open").click()
    expect(page).to_have_url(re.compile(rf"/models/{model['id']}$"))
    expect(page.locator("h1, .text-h5, .text-h4").first).to_contain_text("audit-llama")
