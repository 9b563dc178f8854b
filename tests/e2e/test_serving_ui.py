"""Serving in the browser: a developer deploys the demo model from its page (bad numbers are said in
the form before any request), watches it become Ready, opens the Playground from the deployment and
gets a streamed reply from the replica; the list then shows that traffic and its p95, the model's
Metrics tab shows the live charts, and a stopped deployment shows 0 replicas."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser import field, ui_login
from tests.factories import PASSWORD, make_account, make_model_version


def test_deploy_from_the_model_page_then_chat_in_the_playground(browser_page: Page, api, admin, demo_dirs):
    dev = make_account(api, admin, "dev.park", new_team="apps").headers
    model, _ = make_model_version(api, dev, "demo-chat", demo_dirs[0])
    page = browser_page
    ui_login(page, "dev.park", PASSWORD)

    page.goto(f"/models/{model['id']}")
    page.get_by_test_id("tab-versions").click()
    page.get_by_test_id("deploy-1").click()
    expect(page.get_by_test_id("deploy-dialog")).to_be_visible()
    field(page, "deploy-memory").fill("-5")
    expect(page.get_by_test_id("deploy-submit")).to_be_disabled()
    expect(page.get_by_test_id("deploy-missing")).to_contain_text("메모리")  # says which field, before any request
    field(page, "deploy-memory").fill("0.0001")
    page.get_by_test_id("deploy-submit").click()
    # too little memory: said up front in Korean with the figures, nothing started
    expect(page.get_by_test_id("deploy-error")).to_contain_text("GiB가 필요합니다")
    field(page, "deploy-memory").fill("1")
    page.get_by_test_id("deploy-submit").click()

    expect(page.locator("h1")).to_have_text("demo-chat")
    expect(page.get_by_test_id("deployment-status")).to_have_attribute("data-status", "ready", timeout=120_000)
    expect(page.get_by_test_id("deployment-status")).to_have_text("준비됨")
    expect(page.get_by_test_id("replicas-table")).to_contain_text("준비됨")
    expect(page.get_by_test_id("chart-title-latency")).to_contain_text("ms")  # charts are titled with units
    expect(page.get_by_test_id("deployment-logs")).to_contain_text("runtime.ready", timeout=20_000)

    page.get_by_test_id("deployment-try").click()
    page.get_by_test_id("playground-input").fill("안녕하세요")
    page.get_by_test_id("playground-send").click()
    reply = page.locator('[data-testid="playground-message"][data-role="assistant"]')
    expect(reply).to_have_attribute("data-streaming", "false", timeout=30_000)
    stats = reply.get_by_test_id("playground-stats")
    expect(stats).to_contain_text("dep-")  # the upstream is the deployment's replica
    expect(stats).to_contain_text("ms")

    page.get_by_test_id("nav-deployments").click()
    expect(page.get_by_test_id("status-demo-chat")).to_have_attribute("data-status", "ready")
    # The list shows the last hour's traffic (usage records are written in batches, within seconds).
    expect(page.get_by_test_id("requests-demo-chat")).to_have_text(re.compile(r"^[1-9]"), timeout=30_000)
    expect(page.get_by_test_id("p95-demo-chat")).to_contain_text("ms")

    page.goto(f"/models/{model['id']}")
    page.get_by_test_id("tab-metrics").click()
    expect(page.get_by_test_id("deployment-charts")).to_contain_text("demo-chat")
    expect(page.get_by_test_id("charts-total")).to_contain_text(re.compile(r"요청 [1-9]"))

    page.get_by_test_id("nav-deployments").click()
    page.get_by_test_id("deployment-demo-chat").click()
    page.get_by_test_id("deployment-undeploy").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("deployment-status")).to_have_attribute("data-status", "stopped")
    expect(page.get_by_test_id("replicas-none")).to_be_visible()
    deployments = api.get("/api/serving/deployments", headers=dev).json()
    assert deployments == []
    page.get_by_test_id("nav-deployments").click()
    page.get_by_test_id("deployments-show-stopped").locator("input").check()
    expect(page.get_by_test_id("replicas-demo-chat")).to_have_text("0 / 0")
