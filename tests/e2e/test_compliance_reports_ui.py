"""Compliance reports and the governance dashboard in Chromium (Korean): an operator generates a weekly
report, sees it archived with its checklist tally and downloads its PDF; the dashboard shows the activity
heatmap and the checklist with status chips."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser import check_screen, ui_login
from tests.factories import make_account

ALLOW = [
    "HTML",
    "PDF",
    "ISO",
    "A.5.15",
    "A.5.18",
    "A.8.5",
    "A.8.15",
    "A.8.24",
    "A.8.11",
    "A.8.16",
    "API",
    "Argon2",
    "HTTPS",
    "KST",
    "gov-ui-op",
]


def test_generate_download_and_dashboard(api, admin, browser_page: Page):
    page = browser_page
    op = make_account(api, admin, "gov-ui-op", role="operator")
    ui_login(page, "gov-ui-op", op.password)

    page.goto("/governance?tab=reports")
    expect(page.get_by_test_id("governance-reports")).to_be_visible()
    expect(page.get_by_test_id("governance-reports")).to_contain_text("아직 보관된 보고서가 없습니다.")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("report-generate").click()
    table = page.get_by_test_id("governance-reports")
    expect(table.get_by_test_id("report-download-pdf")).to_be_visible()
    expect(table).to_contain_text("주간")
    expect(table).to_contain_text("gov-ui-op")
    with page.expect_download() as info:
        table.get_by_test_id("report-download-pdf").click()
    download = info.value
    assert download.suggested_filename.startswith("compliance-week-") and download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"
    check_screen(page, allow=ALLOW)

    page.goto("/governance?tab=dashboard")
    expect(page.get_by_test_id("activity-heatmap")).to_be_visible()
    checklist = page.get_by_test_id("checklist")
    expect(checklist).to_contain_text("접속기록 보관")
    expect(checklist.locator('[data-control="access_logs"] [data-status="partial"]')).to_have_text("부분 충족")
    check_screen(page, allow=ALLOW)
