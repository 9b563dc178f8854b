"""Per-key and per-team "no external transfer" in Chromium, and revoking all of one's keys: an admin issues a key
marked internal only, turns it back to external, marks a team internal only from its edit dialog (the API then
reports both settings), and revokes every key at once after confirming. A developer sees their key's setting but
cannot change it."""

from __future__ import annotations

import os

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import ADMIN_PASSWORD, PASSWORD, login_headers, make_team, make_user

SHOTS = os.environ.get("AXOPS_SCREENSHOTS")
ALLOW = ("admin", "ci-bot", "batch-bot", "llm", "Authorization: Bearer", "default", "Administrator")


def _transfer(api: httpx.Client, headers: dict) -> dict[str, str]:
    r = api.get("/api/policy/transfer", headers=headers)
    assert r.status_code == 200, r.text
    return {x["api_key_name"] or x["team_name"]: x["external"] for x in r.json()}


def test_key_and_team_transfer_settings_and_revoke_all(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    team = make_team(api, admin, "llm")
    ui_login(page, "admin", ADMIN_PASSWORD)

    page.goto("/apikeys")
    page.get_by_test_id("apikeys-create").click()
    field(page, "apikey-form-name").fill("ci-bot")
    field(page, "apikey-form-internal-only").check()
    page.get_by_test_id("apikey-form-submit").click()
    page.get_by_test_id("apikey-secret-close").click()
    expect(page.get_by_test_id("apikey-transfer-ci-bot")).to_have_text("내부 전용")
    assert _transfer(api, admin) == {"ci-bot": "forbidden"}
    page.get_by_test_id("apikeys-create").click()
    field(page, "apikey-form-name").fill("batch-bot")
    page.get_by_test_id("apikey-form-submit").click()
    page.get_by_test_id("apikey-secret-close").click()
    expect(page.get_by_test_id("apikey-transfer-batch-bot")).to_have_text("허용")
    expect(page.get_by_test_id("apikeys-transfer-help")).to_contain_text("내부 전용")
    check_screen(page, allow=ALLOW)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/apikeys.png", full_page=True)

    page.get_by_test_id("apikey-transfer-toggle-ci-bot").click()
    expect(page.get_by_test_id("apikey-transfer-ci-bot")).to_have_text("허용")
    assert _transfer(api, admin) == {"ci-bot": "allowed"}

    page.goto("/admin/teams")
    expect(page.get_by_test_id("team-transfer-llm")).to_have_text("허용")
    page.get_by_test_id("team-edit-llm").click()
    field(page, "team-form-internal-only").check()
    page.get_by_test_id("team-form-submit").click()
    expect(page.get_by_test_id("team-transfer-llm")).to_have_text("내부 전용")
    assert _transfer(api, admin)["llm"] == "forbidden"
    check_screen(page, allow=ALLOW)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/teams.png", full_page=True)

    page.goto("/apikeys")
    page.get_by_test_id("apikeys-revoke-all").click()
    expect(page.locator(".v-dialog")).to_contain_text("모두 폐기할까요")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("snackbar")).to_contain_text("키 2개를 폐기했습니다")
    expect(page.get_by_test_id("apikeys-revoke-all")).to_have_count(0)
    keys = api.get("/api/apikey", headers=admin).json()["items"]
    assert sorted((k["name"], k["status"]) for k in keys) == [("batch-bot", "revoked"), ("ci-bot", "revoked")]

    # A developer sees a key's setting but has no way to change it.
    make_user(api, admin, "dev.kim", "developer", [team["id"]])
    dev = login_headers(api, "dev.kim")
    r = api.post("/api/apikey/create", json={"name": "own-bot", "scopes": ["models:read"]}, headers=dev)
    assert r.status_code == 201, r.text
    r = api.put("/api/policy/transfer", json={"api_key_id": r.json()["id"], "external": "forbidden"}, headers=admin)
    assert r.status_code == 200, r.text
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    ui_login(page, "dev.kim", PASSWORD)
    page.goto("/apikeys")
    expect(page.get_by_test_id("apikey-transfer-own-bot")).to_have_text("내부 전용")
    expect(page.get_by_test_id("apikey-transfer-toggle-own-bot")).to_have_count(0)
    page.get_by_test_id("apikeys-create").click()
    expect(field(page, "apikey-form-name")).to_be_visible()
    expect(page.get_by_test_id("apikey-form-internal-only")).to_have_count(0)
