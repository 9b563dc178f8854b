"""The platform-core journey in a real browser (Playwright driving Debian's Chromium):
admin sets up a team and a Developer; the Developer (Korean UI) issues an API key, uses it,
revokes it; the admin finds all of it in the audit log; a Viewer sees no admin navigation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, open_login, pick, ui_login, ui_logout
from tests.factories import ADMIN_PASSWORD, bearer, login

DEV_PASSWORD = "developer-e2e-pass-1"


def test_admin_developer_viewer_journey(browser_page: Page, api: httpx.Client, live_server):
    page = browser_page

    # A wrong password says so in Korean (the UI translates the problem's code), as do the field errors.
    open_login(page)
    check_screen(page)
    page.get_by_test_id("login-submit").click()  # both fields empty: the form says what is missing, by field
    expect(page.get_by_test_id("form-why")).to_contain_text("사용자 이름: 필수 항목입니다")
    expect(page.get_by_test_id("form-why")).to_contain_text("비밀번호: 필수 항목입니다")
    field(page, "login-username").fill("admin")
    field(page, "login-password").fill("wrong-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("사용자 이름 또는 비밀번호가 올바르지 않습니다.")
    check_screen(page)

    # Admin (Korean UI by default) creates a team and a Developer in it.
    ui_login(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_test_id("nav-users")).to_contain_text("사용자")
    page.get_by_test_id("nav-teams").click()
    page.get_by_test_id("teams-create").click()
    # An empty or blank name keeps Create disabled, and the form says why.
    field(page, "team-form-name").fill("   ")
    expect(page.get_by_test_id("team-form-submit")).to_be_disabled()
    expect(page.get_by_test_id("form-why")).to_contain_text("이름: 필수 항목입니다")
    field(page, "team-form-name").fill("research")
    expect(page.get_by_test_id("form-why")).to_have_count(0)
    page.locator('[data-testid="team-form-description"] textarea').first.fill("<b>LLM</b> 연구팀")
    page.get_by_test_id("team-form-submit").click()
    expect(page.get_by_test_id("teams-table")).to_contain_text("<b>LLM</b> 연구팀")  # shown verbatim
    check_screen(page, allow=("admin", "research"))

    page.get_by_test_id("nav-users").click()
    page.get_by_test_id("users-create").click()
    field(page, "user-form-username").fill("dev.park")
    field(page, "user-form-password").fill(DEV_PASSWORD)
    pick(page, "user-form-role", "개발자")
    pick(page, "user-form-teams", "research", multiple=True)
    page.get_by_test_id("user-form-submit").click()
    expect(page.get_by_test_id("users-table")).to_contain_text("dev.park")
    check_screen(page, allow=("admin", "research"))
    ui_logout(page)

    # The Developer logs in, switches to English and back, and issues an API key.
    ui_login(page, "dev.park", DEV_PASSWORD)
    expect(page.get_by_test_id("nav-users")).to_have_count(0)
    page.get_by_test_id("locale-switch").click()
    expect(page.get_by_test_id("nav-apikeys")).to_contain_text("API keys")
    page.get_by_test_id("locale-switch").click()
    expect(page.get_by_test_id("nav-apikeys")).to_contain_text("API 키")
    page.get_by_test_id("nav-apikeys").click()
    page.get_by_test_id("apikeys-create").click()
    field(page, "apikey-form-name").fill("ci-key")
    page.get_by_test_id("apikey-form-submit").click()
    secret = field(page, "apikey-secret").input_value()
    assert re.fullmatch(r"axk_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}", secret)
    check_screen(page, allow=("ci-key", "research"))  # the secret dialog over the keys page
    page.get_by_test_id("apikey-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_test_id("apikey-secret-close").click()
    expect(page.get_by_test_id("apikeys-table")).to_contain_text("ci-key")
    expect(page.get_by_test_id("apikeys-table")).to_contain_text("활성")

    # The key works wherever a JWT does...
    info = api.get("/api/user/info", headers=bearer(secret))
    assert info.status_code == 200 and info.json()["username"] == "dev.park" and info.json()["auth"] == "apikey"
    assert [t["name"] for t in info.json()["teams"]] == ["research"]

    # ...until the Developer revokes it.
    page.get_by_test_id("apikey-revoke-ci-key").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("apikeys-table")).to_contain_text("폐기됨")
    check_screen(page, allow=("ci-key", "research"))
    assert api.get("/api/user/info", headers=bearer(secret)).status_code == 401
    ui_logout(page)

    # The admin sees all of it in the audit log, can filter it and export it.
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.get_by_test_id("nav-audit").click()
    table = page.get_by_test_id("audit-table")
    for action in ("team.create", "user.create", "apikey.create", "apikey.revoke", "auth.login_failed"):
        expect(table).to_contain_text(action)
    # Each event reads as a sentence in the reader's language.
    for sentence in ("팀 research 생성", "사용자 dev.park 생성 (개발자)", "API 키 ci-key 발급", "API 키 ci-key 폐기"):
        expect(table).to_contain_text(sentence)
    field(page, "audit-filter-action").fill("apikey.")
    page.get_by_test_id("audit-apply").click()
    expect(table).not_to_contain_text("team.create")
    expect(table).to_contain_text("dev.park")
    check_screen(page, allow=("admin", "research", "ci-key"))
    with page.expect_download() as download:
        page.get_by_test_id("audit-export").click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "apikey.revoke" in csv_text and "team.create" not in csv_text
    ui_logout(page)

    # A Viewer sees no admin navigation, and the API refuses them too.
    admin = bearer(login(api, "admin", ADMIN_PASSWORD)["access_token"])
    assert (
        api.post(
            "/api/users", json={"username": "viewer.kim", "password": DEV_PASSWORD, "role": "viewer"}, headers=admin
        ).status_code
        == 201
    )
    ui_login(page, "viewer.kim", DEV_PASSWORD)
    for hidden in ("nav-users", "nav-teams", "nav-audit", "nav-apikeys"):
        expect(page.get_by_test_id(hidden)).to_have_count(0)
    page.goto("/admin/users")  # typed in directly: the guard sends them home
    expect(page).to_have_url(re.compile(r"/$"))
    check_screen(page)
    viewer = bearer(login(api, "viewer.kim", DEV_PASSWORD)["access_token"])
    assert api.get("/api/users", headers=viewer).status_code == 403
    assert api.post("/api/teams", json={"name": "x"}, headers=viewer).status_code == 403
