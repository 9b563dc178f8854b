"""The dataset journey in the browser: upload a Korean CSV with personal data (the form checks the name as the
API does and says what is missing), read the PII report, see the raw preview of restricted data marked as unmasked
and audited, read the quality report, create a masked version, see the masked cells in the diff, approve it for
training — and see the unmasked version refused. An unknown dataset id is a not-found page, in Korean."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from axops.datasets.demo import demo_csv
from tests.browser import check_screen, field, ui_login
from tests.factories import ADMIN_PASSWORD, make_team


def test_upload_scan_mask_diff_and_approve(browser_page: Page, api, admin, task_worker, tmp_path):
    make_team(api, admin, "data")
    csv = tmp_path / "tickets.csv"
    csv.write_bytes(demo_csv(rows=60))  # CP949, as Excel saves Korean
    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)

    page.get_by_test_id("nav-datasets").click()
    expect(page.get_by_test_id("datasets-upload")).to_be_visible()
    expect(page.get_by_test_id("datasets-table").or_(page.get_by_test_id("state-empty").last)).to_be_visible()
    check_screen(page, ("admin",))
    page.get_by_test_id("datasets-upload").click()
    why = page.get_by_test_id("dataset-upload-why")
    expect(why).to_contain_text("파일")
    page.get_by_test_id("dataset-file").set_input_files(str(csv))
    field(page, "dataset-name").fill("bad name!!")  # the API refuses it: so does the form, saying the rule
    expect(page.get_by_role("dialog")).to_contain_text("문자, 숫자, 공백과 _ . - 만 쓸 수 있고")
    expect(why).to_contain_text("올바른 이름")
    expect(page.get_by_test_id("dataset-upload-submit")).to_be_disabled()
    field(page, "dataset-name").fill("tickets")
    expect(why).to_have_count(0)
    field(page, "dataset-key-column").fill("ticket_id")
    page.get_by_test_id("dataset-upload-submit").click()
    expect(page.get_by_test_id("dataset-name-title")).to_have_text("tickets", timeout=30_000)  # upload, then the page

    # The PII report arrives when the background scan is done; examples are masked.
    page.get_by_test_id("tab-pii").click()
    expect(page.get_by_test_id("pii-columns")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("pii-high-risk")).to_contain_text("RRN")
    examples = page.get_by_test_id("pii-example")
    expect(examples.first.locator("mark").first).to_be_visible()
    expect(examples.first).to_contain_text("*")

    # Restricted data: the raw preview says it is unmasked and that opening it is audited.
    page.get_by_test_id("tab-preview").click()
    expect(page.get_by_test_id("preview-unmasked")).to_contain_text("마스킹되지 않은 제한 데이터")
    expect(page.get_by_test_id("preview-unmasked")).to_contain_text("감사 로그")
    expect(page.get_by_test_id("preview-table")).to_be_visible()
    # The quality report's stat labels stay on one line (Korean words are not broken syllable by syllable).
    page.get_by_test_id("tab-quality").click()
    label = page.get_by_test_id("quality-stat-label").first
    expect(label).to_be_visible()
    box = label.bounding_box()
    assert box is not None and box["height"] < 30, box
    page.get_by_test_id("tab-pii").click()
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
    expect(page.get_by_test_id("review-conflict")).to_contain_text("주민등록번호")

    # An id nobody has: the not-found page, not an English dead end.
    page.goto("/datasets/00000000-0000-7000-8000-000000000000")
    expect(page.get_by_test_id("not-found")).to_contain_text("데이터셋을(를) 찾을 수 없습니다")
    check_screen(page)

    versions = api.get(f"/api/dataset/{_dataset_id(api, admin)}/versions", headers=admin).json()
    assert [(v["version"], v["source"], v["review_status"]) for v in versions] == [
        (2, "masked", "approved"),
        (1, "upload", "scanned"),
    ]


def _dataset_id(api, headers) -> str:
    return api.get("/api/dataset", params={"q": "tickets"}, headers=headers).json()["items"][0]["id"]
