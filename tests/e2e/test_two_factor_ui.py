"""Two-factor authentication in Chromium: enrol on the profile page (QR code, first code, recovery codes shown
once), then sign in again with the password and a code."""

from __future__ import annotations

import httpx
import pyotp
from playwright.sync_api import Page, expect

from tests.browser import check_page, field, open_login, ui_login, ui_logout
from tests.factories import PASSWORD, Authenticator, make_user


def test_enrol_then_sign_in_with_a_code(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    make_user(api, admin, "yuna")
    ui_login(page, "yuna", PASSWORD)
    page.goto("/profile")
    card = page.get_by_test_id("two-factor-card")
    expect(card.get_by_test_id("two-factor-status")).to_contain_text("꺼짐", timeout=15_000)
    card.get_by_test_id("two-factor-enrol").click()
    expect(card.get_by_test_id("two-factor-qr")).to_be_visible()
    secret = card.get_by_test_id("two-factor-secret").inner_text().strip()
    assert pyotp.TOTP(secret).now().isdigit()
    app = Authenticator(secret)
    field(page, "two-factor-code").fill(app.code())
    card.get_by_test_id("two-factor-confirm").click()
    codes = page.get_by_test_id("two-factor-recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    check_page(page, allow=("yuna", secret, *codes.all_inner_texts()))
    page.get_by_test_id("two-factor-recovery-done").click()
    expect(card.get_by_test_id("two-factor-status")).to_contain_text("남은 복구 코드 10개")

    ui_logout(page)
    open_login(page)
    field(page, "login-username").fill("yuna")
    field(page, "login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-mfa")).to_be_visible()
    field(page, "login-mfa-code").fill("000000")
    page.get_by_test_id("login-mfa-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("코드가 올바르지 않거나")
    field(page, "login-mfa-code").fill(app.code())
    page.get_by_test_id("login-mfa-submit").click()
    expect(page.get_by_test_id("nav-home")).to_be_visible()
