"""Governance settings in Chromium: an access rule names its model from a list of model names (not an id), and the
violation rules are edited in their dialog by a policy admin (the API then holds the new values) and read-only for
an operator."""

from __future__ import annotations

import os

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login, ui_logout
from tests.factories import ADMIN_PASSWORD, make_account, make_team, register_model

SHOTS = os.environ.get("AXOPS_SCREENSHOTS")
ALLOW = ("admin", "llm", "chat-ko", "Asia/Seoul", "gov-op", "Administrator")


def test_access_rule_picks_a_model_by_name(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    team = make_team(api, admin, "llm")
    register_model(api, admin, "chat-ko")
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto("/governance?tab=access")
    page.get_by_test_id("access-new").click()
    pick(page, "access-form-team", "llm")
    pick(page, "access-form-action", "배포")
    page.get_by_test_id("access-form-resource").click()
    expect(page.get_by_role("option", name="* (전체)")).to_be_visible()
    page.get_by_role("option", name="chat-ko").click()
    check_screen(page, allow=ALLOW)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/access-rule.png")
    page.get_by_test_id("access-form-submit").click()
    expect(page.get_by_test_id("access-rules")).to_contain_text("chat-ko")
    expect(page.get_by_test_id("access-rules")).to_contain_text("llm")
    rules = api.get("/api/policy/model-access", headers=admin).json()
    assert [(r["subject"], r["action"], r["resource"], r["effect"]) for r in rules] == [
        (team["id"], "deploy", "chat-ko", "deny")
    ]


def test_violation_rules_edited_by_admin_read_only_for_operator(browser_page: Page, api: httpx.Client, admin):
    page = browser_page
    op = make_account(api, admin, "gov-op", role="operator", new_team="llm")
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto("/governance?tab=violations")
    page.get_by_test_id("violation-rules-open").click()
    dialog = page.get_by_test_id("violation-rules")
    expect(field(page, "rule-off_hours-start_hour")).to_have_value("8")
    field(page, "rule-off_hours-start_hour").fill("9")
    field(page, "rule-blocked_prompts-threshold").fill("0")
    expect(dialog).to_contain_text("1에서 100000 사이의 정수")
    expect(page.get_by_test_id("violation-rules-save")).to_be_disabled()
    field(page, "rule-blocked_prompts-threshold").fill("7")
    page.get_by_test_id("rule-auto_suspend-enabled").locator("input").check()
    check_screen(page, allow=ALLOW)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/violation-rules.png")
    page.get_by_test_id("violation-rules-save").click()
    expect(dialog).to_be_hidden()
    rules = api.get("/api/governance/violation-rules", headers=admin).json()["rules"]
    assert rules["off_hours"]["start_hour"] == 9 and rules["blocked_prompts"]["threshold"] == 7
    assert rules["auto_suspend"]["enabled"] is True and rules["new_network"]["lookback_days"] == 30
    changes = api.get("/api/audit/logs", params={"action": "violation_rules.update"}, headers=admin).json()["items"]
    assert len(changes) == 1

    ui_logout(page)
    ui_login(page, "gov-op", op.password)
    page.goto("/governance?tab=violations")
    page.get_by_test_id("violation-rules-open").click()
    expect(field(page, "rule-off_hours-start_hour")).to_have_value("9")
    expect(field(page, "rule-off_hours-start_hour")).to_be_disabled()
    expect(page.get_by_test_id("violation-rules-save")).to_have_count(0)
    expect(page.get_by_test_id("violation-rules")).to_contain_text("정책 관리자만")
