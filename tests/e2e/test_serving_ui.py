"""Serving in the browser: a developer deploys the demo model from its page, watches it become
Ready, opens the Playground from the deployment and gets a streamed reply from the replica."""

from __future__ import annotations

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
    field(page, "deploy-memory").fill("0.0001")
    page.get_by_test_id("deploy-submit").click()
    expect(page.get_by_test_id("deploy-error")).to_contain_text(
        "GiB"
    )  # too little memory: said up front, nothing started
    field(page, "deploy-memory").fill("1")
    page.get_by_test_id("deploy-submit").click()

    expect(page.get_by_test_id("deployment-name")).to_have_text("demo-chat")
    expect(page.get_by_test_id("deployment-status")).to_have_text("ready", timeout=120_000)
    expect(page.get_by_test_id("replicas-table")).to_contain_text("ready")
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
    expect(page.get_by_test_id("status-demo-chat")).to_have_text("ready")
    page.get_by_test_id("deployment-demo-chat").click()
    page.get_by_test_id("deployment-undeploy").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("deployment-status")).to_have_text("stopped")
    deployments = api.get("/api/serving/deployments", headers=dev).json()
    assert deployments == []
