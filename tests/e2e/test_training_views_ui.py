"""Sweeps and the GPU/queue page in the browser: a researcher starts a small learning-rate sweep from
the UI (the form's own and the server's errors shown in the dialog), watches its trials run one at a
time on the queue page — no GPU here, said so — and finds the best trial highlighted when they end."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser import field, pick, ui_login
from tests.factories import PASSWORD, make_account, make_training_lab


def test_start_a_sweep_watch_the_queue_and_find_the_best_trial(browser_page: Page, api, admin, demo_dirs, live_server):
    dev = make_account(api, admin, "res.lee", new_team="lab").headers
    make_training_lab(
        api, admin, live_server, dev, demo_dirs[0], model_name="sweep-base", dataset_name="sweep-corpus", approve=True
    )

    page = browser_page
    ui_login(page, "res.lee", PASSWORD)
    page.get_by_test_id("nav-sweeps").click()
    expect(page.get_by_test_id("sweeps-empty")).to_be_visible()
    page.get_by_test_id("sweep-new").click()
    field(page, "job-name-field").fill("lr pair")
    pick(page, "job-model", "sweep-base")
    pick(page, "job-dataset", "sweep-corpus")
    pick(page, "job-text-column", "text")
    field(page, "job-max-steps").fill("6")
    field(page, "job-max-seq").fill("64")
    field(page, "job-save-steps").fill("6")
    error = page.get_by_test_id("job-error")
    field(page, "sweep-values-0").fill("0.001, abc")  # the form's own check
    page.get_by_test_id("job-submit").click()
    expect(error).to_contain_text("abc")
    field(page, "sweep-values-0").fill("0.001, 2")  # a learning rate above 1: the server refuses the trial
    expect(page.get_by_test_id("sweep-trial-count")).to_contain_text("2")
    page.get_by_test_id("job-submit").click()
    expect(error).to_contain_text("settings are invalid")
    assert api.get("/api/training/sweeps", headers=dev).json() == []  # nothing half-made
    field(page, "sweep-values-0").fill("0.001, 0.02")
    page.get_by_test_id("job-submit").click()

    expect(page.get_by_test_id("sweep-name")).to_have_text("lr pair")
    trials = page.get_by_test_id("sweep-trials").locator("tbody tr")
    expect(trials).to_have_count(2)
    expect(page.get_by_test_id("sweep-space")).to_contain_text("learning_rate: 0.001, 0.02")

    # one training slot: the first trial runs, the second waits and says why
    page.get_by_test_id("nav-trainingQueue").click()
    expect(page.get_by_test_id("nav-trainingQueue")).to_have_class(re.compile("v-list-item--active"))
    expect(page.get_by_test_id("nav-training")).not_to_have_class(
        re.compile("v-list-item--active")
    )  # the page's own item only
    expect(page.get_by_test_id("gpu-empty")).to_contain_text("No GPU")
    expect(page.get_by_test_id("queue-running")).to_contain_text("lr pair #1", timeout=60_000)
    expect(page.get_by_test_id("queue-running")).to_contain_text("this machine")
    waiting = page.get_by_test_id("queue-waiting")
    expect(waiting).to_contain_text("lr pair #2")
    expect(waiting).to_contain_text("training slot")
    expect(page.get_by_test_id("quotas-table")).to_contain_text("lab")
    expect(page.get_by_test_id("quota-edit")).to_have_count(0)  # a developer reads quotas, infra admins change them

    page.get_by_test_id("nav-sweeps").click()
    page.get_by_test_id("sweeps-table").get_by_role("link", name="lr pair").click()
    expect(page.get_by_test_id("sweep-status")).to_have_text("succeeded", timeout=180_000)
    expect(page.get_by_test_id("sweep-best-chip")).to_have_count(1)
    expect(page.get_by_test_id("sweep-chart")).to_be_visible()
    expect(page.get_by_test_id("sweep-best")).to_contain_text("loss")
    page.get_by_test_id("sweep-compare").click()
    expect(page.get_by_test_id("compare-params")).to_contain_text("learning_rate")
