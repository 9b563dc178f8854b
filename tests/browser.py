"""What browser journeys do in the page besides their subject: log in and out through the UI, fill a
Vuetify field, pick from a select."""

from __future__ import annotations

from playwright.sync_api import Page, expect


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
