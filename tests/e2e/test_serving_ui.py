"""Serving in the browser: a developer deploys the demo model from its page, watches it become
Ready, opens the Playground from the deployment and gets a streamed reply from the replica."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import bearer, login
from tests.e2e.conftest import field, ui_login
from tests.integration.test_models import dir_files, register, upload

PASSWORD = "serving-ui-pass-123"


def test_deploy_from_the_model_page_then_chat_in_the_playground(browser_page: Page, api, admin, demo_dirs):
    team = api.post("/api/teams", json={"name": "apps"}, headers=admin).json()
    assert (
        api.post(
            "/api/users",
            json={"username": "dev.park", "password": PASSWORD, "role": "developer", "team_ids": [team["id"]]},
            headers=admin,
        ).status_code
        == 201
    )
    dev = bearer(login(api, "dev.park", PASSWORD)["access_token"])
    model = register(api, dev, "demo-chat")
    assert upload(api, dev, model["id"], dir_files(demo_dirs[0])).status_code == 201
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
