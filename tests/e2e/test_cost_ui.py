"""The Cost page in Chromium (Korean): spend per day with the totals and GPU-hour cost, the forecast with a
budget's status, a simulation of moving traffic to a cheaper route, and an idle deployment among the savings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from axops.gateway.models import UsageRecord
from tests.browser import check_screen, pick, ui_login
from tests.factories import PASSWORD, insert_rows, make_account, make_route
from tests.integration.test_cost import running_deployment, usage

ALLOW = ["chat-big", "chat-small", "cost-team", "cost-dev", "idle-ui", "A100", "GPU", "USD", "API", "default"]


def test_cost_page_in_the_browser(api, admin, database_url, browser_page: Page):
    page = browser_page
    dev = make_account(api, admin, "cost-dev", new_team="cost-team")
    make_route(api, admin, "chat-big", "http://127.0.0.1:9", input_price=10.0, output_price=30.0)
    make_route(api, admin, "chat-small", "http://127.0.0.1:9", input_price=1.0, output_price=2.0)
    now = datetime.now(UTC)
    rows = [usage(now - timedelta(hours=3 * i + 1), dev.user_id, dev.team["id"], "chat-big", 0.025) for i in range(40)]
    insert_rows(database_url, UsageRecord, rows)
    running_deployment(api, database_url, dev, "idle-ui", now - timedelta(hours=48))
    api.put("/api/cost/gpu-rates", json={"rates": [{"gpu_type": "A100", "hourly_rate": 4.0}]}, headers=admin)
    api.put(f"/api/gateway/limits/team/{dev.team['id']}", json={"monthly_budget": 0.05}, headers=admin)

    ui_login(page, "cost-dev", PASSWORD)
    page.goto("/cost?tab=overview")
    expect(page.get_by_test_id("cost-overview")).to_be_visible()
    expect(page.get_by_test_id("cost-daily-chart")).to_be_visible()
    expect(page.get_by_test_id("cost-totals")).to_contain_text("chat-big")
    expect(page.get_by_test_id("cost-gpu")).to_contain_text("idle-ui")
    check_screen(page, allow=ALLOW)

    page.goto("/cost?tab=forecast")
    expect(page.get_by_test_id("cost-forecast")).to_be_visible()
    expect(page.get_by_test_id("forecast-budgets")).to_contain_text("cost-team")
    expect(page.get_by_test_id("budget-status-over")).to_be_visible()
    check_screen(page, allow=ALLOW)

    page.goto("/cost?tab=simulator")
    expect(page.get_by_test_id("cost-simulate")).to_be_visible()
    pick(page, "sim-route-0", "chat-big")
    expect(page.get_by_role("option", name="chat-small")).to_have_count(0)  # the first menu has closed
    pick(page, "sim-to-route-0", "chat-small")
    page.get_by_test_id("sim-run").click()
    expect(page.get_by_test_id("sim-result")).to_be_visible()
    expect(page.get_by_test_id("sim-routes")).to_contain_text("chat-big")
    check_screen(page, allow=ALLOW)

    page.goto("/cost?tab=savings")
    item = page.get_by_test_id("cost-savings-item").first
    expect(item).to_contain_text("idle-ui")
    check_screen(page, allow=ALLOW)
