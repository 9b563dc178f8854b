"""Fine-tuning in the browser: a researcher opens the new-job form, which says what is missing, refuses the
numbers the API refuses and links the dataset's unapproved version to its review; once the version is approved
they create a LoRA job, watch its logs and loss chart fill in, and find the trained model registered as a new
version. An unknown job id is a not-found page. Every screen is in Korean and passes axe-core."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, approve_dataset, make_account, make_training_lab

NAMES = ("ui-base", "ui-base-ft", "ui-corpus", "res.kim", "lab", "text")


def test_create_a_job_watch_it_and_find_the_new_version(browser_page: Page, api, admin, demo_dirs, live_server):
    dev = make_account(api, admin, "res.kim", new_team="lab").headers
    lab = make_training_lab(
        api, admin, live_server, dev, demo_dirs[0], model_name="ui-base", dataset_name="ui-corpus", approve=False
    )
    page = browser_page
    ui_login(page, "res.kim", PASSWORD)
    page.get_by_test_id("nav-training").click()
    expect(page.get_by_test_id("jobs-list").get_by_test_id("state-empty")).to_be_visible()  # "none yet", once loaded
    check_screen(page, NAMES)

    # The form says what keeps Start disabled, and links the scanned-but-unapproved version to its review.
    page.get_by_test_id("job-new").click()
    submit, why = page.get_by_test_id("job-submit"), page.get_by_test_id("job-submit-why")
    expect(submit).to_be_disabled()
    expect(why).to_contain_text("기반 모델 버전")
    pick(page, "job-model", "ui-base")
    pick(page, "job-dataset", "ui-corpus")
    expect(why).to_contain_text("승인된 데이터셋 버전")
    unapproved = page.get_by_test_id("job-unapproved")
    expect(unapproved).to_contain_text("v1")
    check_screen(page, NAMES)
    page.get_by_test_id("job-review-link-1").click()
    expect(page).to_have_url(re.compile(r"/datasets/[0-9a-f-]+\?.*tab=review"))
    expect(page.get_by_test_id("dataset-name-title")).to_have_text("ui-corpus")
    expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "scanned")

    approve_dataset(api, admin, lab["dataset_version"]["id"])  # a reviewer approves it
    page.get_by_test_id("nav-training").click()
    page.get_by_test_id("job-new").click()
    pick(page, "job-model", "ui-base")
    pick(page, "job-dataset", "ui-corpus")
    expect(page.get_by_test_id("job-unapproved")).to_have_count(0)
    pick(page, "job-text-column", "text")

    # Numbers the API refuses are refused in the form, saying the bounds, and Start names the field.
    field(page, "job-lr").fill("-5")
    expect(page.get_by_test_id("job-dialog")).to_contain_text("0보다 크고 1 이하여야 합니다")
    expect(why).to_contain_text("학습률")
    field(page, "job-max-steps").fill("0")
    expect(page.get_by_test_id("job-dialog")).to_contain_text("1에서 10,000,000 사이여야 합니다")
    expect(why).to_contain_text("최대 스텝")
    expect(submit).to_be_disabled()
    check_screen(page, NAMES)
    field(page, "job-max-steps").fill("30")
    field(page, "job-lr").fill("0.01")
    field(page, "job-max-seq").fill("64")
    field(page, "job-save-steps").fill("10")
    expect(why).to_have_count(0)
    submit.click()

    expect(page.get_by_test_id("job-name")).to_contain_text("ui-base-ft")
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "succeeded", timeout=180_000)
    expect(page.get_by_test_id("job-status")).to_have_text("성공")
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("job-progress")).to_contain_text("30 / 30")
    expect(page.get_by_test_id("job-logs")).to_contain_text("registered model version")
    expect(page.get_by_test_id("job-checkpoints")).to_contain_text("30 스텝")
    check_screen(page, (*NAMES, "ui-base-ft from v1"))
    job_url = page.url

    # The jobs list: the job with its status in Korean, a link to it.
    page.get_by_test_id("nav-training").click()
    table = page.get_by_test_id("jobs-table")
    expect(table).to_contain_text("ui-base-ft")
    expect(table.locator('[data-status="succeeded"]')).to_have_count(1)
    check_screen(page, (*NAMES, "ui-base-ft from v1"))

    page.goto(job_url)
    page.get_by_test_id("job-output").get_by_role("link").click()
    expect(page.get_by_test_id("model-name")).to_have_text("ui-base-ft")
    page.get_by_test_id("tab-versions").click()
    expect(page.get_by_test_id("versions-table")).to_contain_text("v1")

    # An id nobody has: the not-found page, in Korean, with a way back to the jobs.
    page.goto("/training/jobs/00000000-0000-7000-8000-000000000000")
    expect(page.get_by_test_id("not-found")).to_contain_text("학습 작업을(를) 찾을 수 없습니다")
    check_screen(page)
