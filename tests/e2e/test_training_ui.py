"""Fine-tuning in the browser: a researcher creates a LoRA job from the UI, watches its logs and
loss chart fill in, and finds the trained model registered as a new version."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser import field, pick, ui_login
from tests.factories import PASSWORD, make_account, make_training_lab


def test_create_a_job_watch_it_and_find_the_new_version(browser_page: Page, api, admin, demo_dirs, live_server):
    dev = make_account(api, admin, "res.kim", new_team="lab").headers
    make_training_lab(
        api, admin, live_server, dev, demo_dirs[0], model_name="ui-base", dataset_name="ui-corpus", approve=True
    )
    page = browser_page
    ui_login(page, "res.kim", PASSWORD)
    page.get_by_test_id("nav-training").click()
    expect(page.get_by_test_id("jobs-empty")).to_be_visible()
    page.get_by_test_id("job-new").click()
    pick(page, "job-model", "ui-base")
    pick(page, "job-dataset", "ui-corpus")
    pick(page, "job-text-column", "text")
    field(page, "job-max-steps").fill("30")
    field(page, "job-lr").fill("0.01")
    field(page, "job-max-seq").fill("64")
    field(page, "job-save-steps").fill("10")
    page.get_by_test_id("job-submit").click()

    expect(page.get_by_test_id("job-name")).to_contain_text("ui-base-ft")
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=180_000)
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("job-progress")).to_contain_text("30 / 30")
    expect(page.get_by_test_id("job-logs")).to_contain_text("registered model version")
    expect(page.get_by_test_id("job-checkpoints")).to_contain_text("step 30")
    page.get_by_test_id("job-output").get_by_role("link").click()
    expect(page.get_by_test_id("model-name")).to_have_text("ui-base-ft")
    page.get_by_test_id("tab-versions").click()
    expect(page.get_by_test_id("versions-table")).to_contain_text("v1")
