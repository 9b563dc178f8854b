"""The home dashboard in Chromium: its tiles show the known data of tests/home_scene.py (counts,
statuses in Korean, the gateway's last day), each role sees only its tiles, and a tile's title
takes you to its page."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser import check_a11y, check_page, ui_login, ui_logout
from tests.factories import ADMIN_PASSWORD, PASSWORD
from tests.home_scene import home_scene

SHOTS = os.environ.get("AXOPS_SCREENSHOTS")  # a directory: the home page at three widths, for a look


def _shots(page: Page, name: str) -> None:
    if not SHOTS:
        return
    for width in (1440, 1024, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        page.screenshot(path=str(Path(SHOTS) / f"home-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def _checks(page: Page, data: list[str]) -> None:
    check_page(page, allow=data)
    # the page's own content: the sidebar (App.vue's nav list) is checked by the shell's tests
    check_a11y(page, include="main")


def test_home_tiles_show_known_data_per_role(api, admin, database_url, live_server, browser_page: Page):
    page = browser_page
    scene = home_scene(api, admin, database_url, live_server)
    data = [
        "chat-alpha",
        "chat-beta",
        "tune-alpha-1",
        "tune-alpha-2",
        "tune-beta-1",
        "tune-beta-2",
        "run-alpha-1",
        "run-alpha-2",
        "run-beta-1",
        "run-beta-2",
        "exp-alpha",
        "exp-beta",
        "corpus-alpha",
        "corpus-beta",
        "dead-org",
        "dead-beta",
        scene["dead-org_upstream"],
        scene["dead-beta_upstream"],
        "admin",
        "dev-alpha",
        "dev-beta",
        "Administrator",
        "p95",
        "ms",
    ]

    ui_login(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_test_id("home-usage-requests")).to_have_text("5")
    expect(page.get_by_test_id("home-usage-errors")).to_have_text("2")
    expect(page.get_by_test_id("home-usage-cost")).to_have_text("3.00")
    deployments = page.get_by_test_id("home-deployments")
    expect(deployments.get_by_test_id("home-deployments-count")).to_have_text("2")
    # statuses as chips in Korean: ready, degraded
    expect(page.get_by_test_id("home-deployment-chat-alpha").locator("[data-status]")).to_have_text("준비됨")
    expect(page.get_by_test_id("home-deployment-chat-alpha")).to_contain_text("2개 중 1개")
    expect(page.get_by_test_id("home-deployment-chat-beta").locator("[data-status]")).to_have_text("저하")
    expect(page.get_by_test_id(f"home-upstream-{scene['dead-org_upstream']}")).to_contain_text("dead-org")
    expect(page.get_by_test_id("home-training-count")).to_have_text("실행 중 2 · 대기 2")
    expect(page.get_by_test_id("home-job-tune-alpha-1")).to_contain_text("30단계 중 5단계")
    expect(page.get_by_test_id("home-run-run-beta-2")).to_be_visible()
    expect(page.get_by_test_id("home-reviews-count")).to_have_text("2")
    expect(page.get_by_test_id("home-audit-event").first).to_be_visible()
    _checks(page, data)
    _shots(page, "admin")

    # a tile's title goes to its page; a row to its item
    page.get_by_test_id("home-deployments-link").click()
    expect(page).to_have_url(re.compile(r"/deployments$"))
    page.go_back()
    page.get_by_test_id("home-job-tune-alpha-1").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/[0-9a-f-]{36}$"))

    # a Developer of team alpha: alpha's rows, own usage, no audit tile
    page.goto("/")
    ui_logout(page)
    ui_login(page, "dev-alpha", PASSWORD)
    expect(page.get_by_test_id("home-usage-requests")).to_have_text("3")
    expect(page.get_by_test_id("home-deployment-chat-alpha")).to_be_visible()
    expect(page.get_by_test_id("home-deployments-count")).to_have_text("1")
    expect(page.get_by_test_id("home-deployment-chat-beta")).to_have_count(0)
    expect(page.get_by_test_id("home-job-tune-beta-1")).to_have_count(0)
    expect(page.get_by_test_id(f"home-upstream-{scene['dead-beta_upstream']}")).to_have_count(0)
    expect(page.get_by_test_id("home-audit")).to_have_count(0)
    expect(page.get_by_test_id("home-reviews-count")).to_have_text("1")
    _checks(page, data)
    _shots(page, "developer")
