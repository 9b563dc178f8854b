"""The dataset journey in the browser: upload a Korean CSV with personal data, read the PII
report, create a masked version, see the masked cells in the diff, approve it for training —
and see the unmasked version refused."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from axops.datasets.demo import demo_csv
from tests.browser import field, ui_login
from tests.factories import ADMIN_PASSWORD, make_team


def test_upload_scan_mask_diff_and_approve(browser_page: Page, api, admin, task_worker, tmp_path):
    make_team(api, admin, "data")
    csv = tmp_path / "tickets.csv"
    csv.write_bytes(demo_csv(rows=60))  # CP949, as Excel saves Korean
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)

    page.get_by_test_id("nav-datasets").click()
    page.get_by_test_id("datasets-upload").click()
    page.get_by_test_id("dataset-file").set_input_files(str(csv))
    field(page, "dataset-name").fill("tickets")
    field(page, "dataset-key-column").fill("ticket_id")
    page.get_by_test_id("dataset-upload-submit").click()
    expect(page.get_by_test_id("dataset-name-title")).to_have_text("tickets")

    # The PII report arrives when the background scan is done; examples are masked.
    page.get_by_test_id("tab-pii").click()
    expect(page.get_by_test_id("pii-columns")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("pii-high-risk")).to_contain_text("RRN")
    examples = page.get_by_test_id("pii-example")
    expect(examples.first.locator("mark").first).to_be_visible()
    expect(examples.first).to_contain_text("*")

    page.get_by_test_id("pii-mask-open").click()
    page.get_by_test_id("pii-mask-submit").click()

    # The diff from v1 to the masked v2 shows changed cells: old value struck out, masked one marked.
    page.get_by_test_id("tab-diff").click()
    cell = page.get_by_test_id("diff-changed-cell").first
    expect(cell).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("diff-count-changed")).to_contain_text("60")
    expect(cell.locator("del")).to_have_count(1)
    expect(cell.locator("mark").first).to_be_visible()

    page.get_by_test_id("tab-review").click()
    field(page, "review-comment").fill("마스킹 확인")
    page.get_by_test_id("review-approve").click()
    expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "approved")

    # v1 still holds resident numbers: approval is refused with the reason.
    page.get_by_test_id("tab-versions").click()
    page.get_by_test_id("version-row-1").click()
    page.get_by_test_id("tab-review").click()
    page.get_by_test_id("review-approve").click()
    expect(page.get_by_test_id("review-conflict")).to_contain_text("RRN")

    versions = api.get(f"/api/dataset/{_dataset_id(api, admin)}/versions", headers=admin).json()
    assert [(v["version"], v["source"], v["review_status"]) for v in versions] == [
        (2, "masked", "approved"),
        (1, "upload", "scanned"),
    ]


def _dataset_id(api, headers) -> str:
    return api.get("/api/dataset", params={"q": "tickets"}, headers=headers).json()["items"][0]["id"]
