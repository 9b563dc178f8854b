"""Sweeps and the GPU/queue page in the browser: a researcher starts a small learning-rate sweep from
the UI (the form refuses what the API would, saying why Start is disabled), watches its trials run one at a
time on the queue page — no GPU here, said so in Korean — and finds the best trial highlighted when they end.
An unknown sweep id is a not-found page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, make_account, make_training_lab

NAMES = ("sweep-base", "sweep-corpus", "res.lee", "lab", "lr pair", "text", "loss")


def test_start_a_sweep_watch_the_queue_and_find_the_best_trial(browser_page: Page, api, admin, demo_dirs, live_server):
    dev = make_account(api, admin, "res.lee", new_team="lab").headers
    make_training_lab(
        api, admin, live_server, dev, demo_dirs[0], model_name="sweep-base", dataset_name="sweep-corpus", approve=True
    )

    page = browser_page
    ui_login(page, "res.lee", PASSWORD)
    page.get_by_test_id("nav-sweeps").click()
    expect(page.get_by_test_id("sweeps-list").get_by_test_id("state-empty")).to_be_visible()
    check_screen(page, NAMES)
    page.get_by_test_id("sweep-new").click()
    field(page, "job-name-field").fill("lr pair")
    pick(page, "job-model", "sweep-base")
    pick(page, "job-dataset", "sweep-corpus")
    pick(page, "job-text-column", "text")
    field(page, "job-max-steps").fill("6")
    field(page, "job-max-seq").fill("64")
    field(page, "job-save-steps").fill("6")
    submit, why = page.get_by_test_id("job-submit"), page.get_by_test_id("job-submit-why")
    field(page, "sweep-values-0").fill("0.001, abc")  # not a number
    expect(why).to_contain_text("abc")
    expect(submit).to_be_disabled()
    field(page, "sweep-values-0").fill("0.001, 2")  # a learning rate above 1: the API would refuse the trial
    expect(why).to_contain_text("0보다 크고 1 이하여야 합니다")
    expect(submit).to_be_disabled()
    check_screen(page, NAMES)
    assert api.get("/api/training/sweeps", headers=dev).json() == []  # nothing half-made
    field(page, "sweep-values-0").fill("0.001, 0.02")
    expect(why).to_have_count(0)
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
    expect(page.get_by_test_id("gpu-empty")).to_contain_text("GPU가 없습니다")
    expect(page.get_by_test_id("queue-running")).to_contain_text("lr pair #1", timeout=60_000)
    expect(page.get_by_test_id("queue-running")).to_contain_text("이 서버")
    waiting = page.get_by_test_id("queue-waiting")
    expect(waiting).to_contain_text("lr pair #2")
    expect(waiting).to_contain_text("빈 학습 슬롯을 기다리는 중입니다")
    check_screen(page, NAMES)
    expect(page.get_by_test_id("quotas-table")).to_contain_text("lab")
    expect(page.get_by_test_id("quota-edit")).to_have_count(0)  # a developer reads quotas, infra admins change them

    page.get_by_test_id("nav-sweeps").click()
    page.get_by_test_id("sweeps-table").get_by_role("link", name="lr pair").click()
    expect(page.get_by_test_id("sweep-status")).to_have_attribute("data-status", "succeeded", timeout=180_000)
    expect(page.get_by_test_id("sweep-status")).to_have_text("성공")
    expect(page.get_by_test_id("sweep-best-chip")).to_have_count(1)
    expect(page.get_by_test_id("sweep-chart")).to_be_visible()
    expect(page.get_by_test_id("sweep-best")).to_contain_text("loss")
    check_screen(page, (*NAMES, "loss"))
    sweep_url = page.url
    page.get_by_test_id("sweep-compare").click()
    expect(page.get_by_test_id("compare-params")).to_contain_text("learning_rate")

    # another id: the not-found page, not an English dead end
    page.goto(sweep_url.rsplit("/", 1)[0] + "/00000000-0000-7000-8000-000000000000")
    expect(page.get_by_test_id("not-found")).to_contain_text("스윕을(를) 찾을 수 없습니다")
    check_screen(page)
