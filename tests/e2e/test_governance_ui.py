"""Governance in Chromium (Korean).

Violations: a key refused again and again becomes an open violation; the operator opens it from the list,
acknowledges it and resolves it with a comment, and the list's filter then shows it resolved."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from axops.gateway.models import UsageRecord
from axops.governance import violations
from tests.browser import check_screen, ui_login
from tests.factories import insert_rows, make_account, make_key

VIOLATION_ALLOW = ["API", "ID", "guardrail_blocked", "req"]


def test_violation_acknowledged_and_resolved(api, admin, live_server, database_url, browser_page: Page):
    page = browser_page
    op = make_account(api, admin, "gov-op", role="operator", new_team="거버넌스팀")
    key = make_key(api, op.headers, "상담봇 키", team_id=op.team["id"])
    base = datetime.now(UTC) - timedelta(minutes=3)
    rows = [
        {
            "created_at": base + timedelta(seconds=i),
            "request_id": f"req-{i}",
            "api_key_id": key["id"],
            "team_id": op.team["id"],
            "endpoint": "chat",
            "model": "chat",
            "status": 400,
            "error": "guardrail_blocked",
            "latency_ms": 2.0,
        }
        for i in range(6)
    ]
    insert_rows(database_url, UsageRecord, rows)
    run = violations.detect(live_server.app.state.axops.db, since=base - timedelta(minutes=1))
    assert len(asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(60)) == 1

    ui_login(page, "gov-op", op.password)
    page.goto("/governance?tab=violations")
    table = page.get_by_test_id("violations-table")
    expect(table).to_contain_text("반복 차단된 요청")
    expect(table).to_contain_text("상담봇 키")
    expect(table).to_contain_text("미처리")
    check_screen(page, allow=VIOLATION_ALLOW)

    table.get_by_test_id("violation-open").first.click()
    drawer = page.get_by_test_id("violation-drawer")
    expect(drawer.get_by_test_id("violation-evidence")).to_contain_text("guardrail_blocked × 6")
    check_screen(page, allow=VIOLATION_ALLOW)
    drawer.get_by_test_id("violation-ack").click()
    expect(drawer.get_by_test_id("violation-drawer-status")).to_have_text("확인됨")
    expect(drawer.get_by_test_id("violation-acked")).to_contain_text("gov-op")
    drawer.get_by_test_id("violation-resolve").click()  # no comment yet: refused in the form
    expect(drawer).to_contain_text("처리 내용을 입력하세요.")
    drawer.get_by_test_id("violation-comment-input").locator("textarea").first.fill(
        "키 소유자와 통화해 프롬프트를 고쳤습니다."
    )
    drawer.get_by_test_id("violation-resolve").click()
    expect(drawer.get_by_test_id("violation-drawer-status")).to_have_text("해결됨")
    expect(drawer.get_by_test_id("violation-comment")).to_have_text("키 소유자와 통화해 프롬프트를 고쳤습니다.")
    check_screen(page, allow=VIOLATION_ALLOW)

    stored = api.get("/api/governance/violations", params={"status": "resolved"}, headers=op.headers).json()
    assert [v["comment"] for v in stored["items"]] == ["키 소유자와 통화해 프롬프트를 고쳤습니다."]
