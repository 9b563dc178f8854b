"""Approvals in Chromium (Korean): a Developer moves a version to production on the model page and is told an
approval was requested; an Operator of the team approves it from the Approvals inbox with a comment; the
Developer's own list shows it approved, and the same move then passes."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser import check_screen, pick, ui_login, ui_logout
from tests.factories import make_account, register_model, upload_model

ALLOW = ["v1", "ops-kim", "dev-lee"]


def test_promotion_approved_from_the_inbox(api, admin, live_server, settings, browser_page: Page):
    page = browser_page
    dev = make_account(api, admin, "dev-lee", new_team="추천팀")
    ops = make_account(api, admin, "ops-kim", "operator", dev.team)
    model = register_model(api, dev.headers, "추천모델")
    version = upload_model(api, dev.headers, model["id"], {"config.json": b'{"model_type": "gpt2"}'}).json()
    settings.approvals_required = True
    try:
        ui_login(page, "dev-lee", dev.password)
        page.goto(f"/models/{model['id']}")
        page.get_by_test_id("tab-versions").click()
        pick(page, "stage-1", "운영")
        dialog = page.get_by_test_id("approval-pending")
        expect(dialog).to_contain_text("승인 요청됨")
        expect(dialog.get_by_test_id("approval-pending-message")).to_contain_text("승인")
        check_screen(page, allow=ALLOW)
        dialog.get_by_test_id("approval-pending-open").click()
        mine = page.get_by_test_id("approvals-mine")
        expect(mine).to_contain_text("추천모델 v1")
        expect(mine).to_contain_text("대기")
        check_screen(page, allow=ALLOW)
        ui_logout(page)

        ui_login(page, "ops-kim", ops.password)
        page.goto("/governance?tab=approvals")
        inbox = page.get_by_test_id("approvals-inbox")
        expect(inbox).to_contain_text("추천모델 v1")
        expect(inbox).to_contain_text("dev-lee")
        inbox.get_by_test_id("approval-approve").click()
        decision = page.get_by_test_id("approval-decision")
        decision.get_by_test_id("approval-comment").locator("textarea").first.fill("평가 결과 확인했습니다.")
        check_screen(page, allow=ALLOW)
        decision.get_by_test_id("approval-decide").click()
        expect(inbox.get_by_test_id("approval-approve")).to_have_count(0)
        expect(inbox).to_contain_text("승인됨")
        ui_logout(page)

        stored = api.get("/api/governance/approvals", headers=dev.headers).json()
        assert [(a["status"], a["comment"], a["decided_by_name"]) for a in stored] == [
            ("approved", "평가 결과 확인했습니다.", "ops-kim")
        ]
        r = api.post(f"/api/model/version/{version['id']}/stage", json={"stage": "production"}, headers=dev.headers)
        assert r.status_code == 200 and r.json()["stage"] == "production", r.text
    finally:
        settings.approvals_required = False
