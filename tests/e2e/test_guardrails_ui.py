"""The guardrail policy editor in the browser (Korean): an Admin writes a banned-words policy in the dialog, the
"try a prompt" tester blocks an obfuscated use of the word (spaced out) with each check's verdict and lets a clean
sentence through. The policy is removed at the end (it is global)."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import ADMIN_PASSWORD

NAME = "금칙어 정책 (UI)"


def textarea(page: Page, testid: str):
    return page.locator(f'textarea[data-testid="{testid}"], [data-testid="{testid}"] textarea').first


def test_a_guardrail_policy_made_in_the_editor_blocks_in_the_tester(api: httpx.Client, admin, browser_page: Page):
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto("/governance?tab=guardrails")
    page.get_by_test_id("guardrail-new").click()
    dialog = page.get_by_test_id("guardrail-policy-dialog")
    field(page, "guardrail-name").fill(NAME)
    dialog.get_by_label("금칙어", exact=True).check()
    textarea(page, "guardrail-words").fill("보안위반")
    check_screen(page, allow=(NAME,))
    page.get_by_test_id("guardrail-save").click()
    expect(page.get_by_test_id("guardrail-policies")).to_contain_text(NAME)
    try:
        textarea(page, "guardrail-sample").fill("이 문장은 보 안 위 반 입니다")
        page.get_by_test_id("guardrail-run").click()
        result = page.get_by_test_id("guardrail-result")
        expect(result).to_contain_text("차단")
        expect(result).to_contain_text("금칙어")
        check_screen(page, allow=(NAME,))

        textarea(page, "guardrail-sample").fill("오늘 회의는 세 시에 시작합니다")
        page.get_by_test_id("guardrail-run").click()
        expect(page.get_by_test_id("guardrail-result")).not_to_contain_text("차단")
    finally:
        (policy,) = [p for p in api.get("/api/guardrails/policies", headers=admin).json()["items"] if p["name"] == NAME]
        assert api.delete(f"/api/guardrails/policies/{policy['id']}", headers=admin).status_code == 204
