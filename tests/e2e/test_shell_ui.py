"""The app's frame in the browser: slow and failing API answers (simulated by intercepting the page's requests),
unknown URLs and ids, the sidebar at desktop, laptop and phone widths, breadcrumbs and tab titles."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, Route, expect

from tests.browser import check_screen, ui_login
from tests.factories import ADMIN_PASSWORD


def test_slow_then_failing_list_shows_skeleton_then_error_with_retry(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)

    held: list[Route] = []  # the list request, held unanswered until the test has seen the loading state

    def hold_or_pass(route: Route) -> None:
        if route.request.method == "GET" and not held:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r".*/api/model\?.*"), hold_or_pass)
    page.get_by_test_id("nav-models").click()
    # While the answer is pending: a skeleton, never "nothing here yet".
    state = page.get_by_test_id("async-state").first
    expect(state).to_have_attribute("data-state", "loading")
    expect(page.get_by_test_id("state-empty")).to_have_count(0)
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    expect(state).to_have_attribute("data-state", "loading")  # still, with the request in hand
    held[0].fulfill(
        status=500,
        content_type="application/problem+json",
        body='{"type":"https://axops.dev/problems/internal_error","title":"Internal server error",'
        '"status":500,"detail":"An unexpected error occurred.","request_id":"0193a7c2e5f1"}',
    )
    expect(state).to_have_attribute("data-state", "error")
    expect(page.get_by_test_id("state-error")).to_be_visible()
    check_screen(page)

    page.get_by_test_id("state-error").get_by_role("button").first.click()
    expect(page.get_by_test_id("async-state").first).not_to_have_attribute("data-state", "error")
    expect(page).to_have_title(re.compile(r"^모델 · axops$"))


def test_unknown_url_and_unknown_model_are_not_found(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)

    page.goto("/no/such/page")
    expect(page.get_by_test_id("not-found")).to_contain_text("페이지를 찾을 수 없습니다")
    expect(page).to_have_url(re.compile(r"/no/such/page$"))  # the address is kept, not silently sent home
    check_screen(page)
    page.get_by_test_id("not-found-home").click()
    expect(page).to_have_url(re.compile(r"/$"))

    page.goto("/models/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_test_id("not-found")).to_contain_text("모델")


def test_sidebar_is_grouped_and_fits_each_width(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)
    sidebar = page.get_by_test_id("sidebar")

    page.set_viewport_size({"width": 1440, "height": 900})
    for heading in ("개발", "서비스", "운영", "관리"):
        expect(sidebar.get_by_text(heading, exact=True)).to_be_visible()
    assert sidebar.bounding_box()["width"] > 200

    page.set_viewport_size({"width": 1024, "height": 768})
    expect(sidebar).to_have_class(re.compile(r"v-navigation-drawer--rail"))
    expect(sidebar).to_be_in_viewport()
    assert sidebar.bounding_box()["width"] < 80  # icons only; it widens on hover
    expect(sidebar.get_by_text("개발", exact=True)).to_have_count(0)

    page.set_viewport_size({"width": 390, "height": 844})
    expect(sidebar).not_to_be_in_viewport()
    page.get_by_test_id("sidebar-toggle").click()
    expect(sidebar).to_be_in_viewport()
    check_screen(page)
    page.get_by_test_id("nav-audit").click()
    expect(page).to_have_url(re.compile(r"/audit$"))
    expect(sidebar).not_to_be_in_viewport()  # a phone's drawer closes once a page is picked
