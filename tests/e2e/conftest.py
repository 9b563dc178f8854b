"""Browser fixtures: Playwright driving Debian's Chromium against the live test server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import ROOT

CHROMIUM = os.environ.get("AXOPS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser_page(api, live_server, tmp_path):
    if not (ROOT / "web" / "dist" / "index.html").exists():
        pytest.fail("the web UI is not built: run `make web` (make test does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(base_url=live_server.url, locale="ko-KR", accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        yield page
        context.close()
        browser.close()


def field(page: Page, testid: str):
    """The <input> of a Vuetify field, wherever the test id landed (wrapper or input)."""
    return page.locator(f'input[data-testid="{testid}"], [data-testid="{testid}"] input').first


def open_login(page: Page) -> None:
    page.goto("/login")
    # The username field takes focus once mounted; wait for it, or it can steal a later fill's focus.
    expect(field(page, "login-username")).to_be_focused()


def ui_login(page: Page, username: str, password: str) -> None:
    open_login(page)
    field(page, "login-username").fill(username)
    field(page, "login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("nav-home")).to_be_visible()


def ui_logout(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()


def pick(page: Page, testid: str, option: str, multiple: bool = False) -> None:
    page.get_by_test_id(testid).click()
    page.get_by_role("option", name=option).click()
    if multiple:  # a multiple select stays open; Escape closes just its menu
        page.keyboard.press("Escape")
        expect(page.get_by_role("option", name=option)).to_have_count(0)
