"""The registry journey in the browser: register the demo model (a name the API would refuse is
refused in the form first), read its card in Korean, add versions from the New version dialog,
compare (one version explains itself), rename and archive it; an unknown model id is "not found"."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import PASSWORD, login_headers, make_team, make_user

ALLOW = ("demo-gpt2", "llm", "ops", "res.lee", "ops.kim", "old-chat", "new-chat", "new chat")  # the test's own data


def test_register_upload_card_and_compare(browser_page: Page, api: httpx.Client, admin, demo_dirs):
    from transformers import AutoModelForCausalLM

    make_user(api, admin, "res.lee", "developer", [make_team(api, admin, "llm")["id"]])
    two, three = demo_dirs
    page = browser_page
    ui_login(page, "res.lee", PASSWORD)

    page.get_by_test_id("nav-models").click()
    listing = page.get_by_test_id("models-page")
    expect(listing.get_by_test_id("state-empty")).to_contain_text("axops demo")  # the empty state says how to start
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("models-register").click()
    field(page, "model-form-name").fill("bad name with spaces!!")
    expect(page.get_by_test_id("model-form-submit")).to_be_disabled()
    expect(page.get_by_test_id("model-form-missing")).to_contain_text("이름 형식")  # says why, as the API would
    check_screen(page, allow=ALLOW)
    field(page, "model-form-name").fill("demo-gpt2")
    page.get_by_test_id("model-form-submit").click()
    expect(page.locator("h1")).to_have_text("demo-gpt2")

    page.get_by_test_id("tab-compare").click()
    expect(page.get_by_test_id("compare-needs-two")).to_contain_text("0개")

    def upload(directory):
        page.get_by_test_id("tab-versions").click()
        page.get_by_test_id("version-new").click()
        expect(page.get_by_test_id("version-missing")).to_be_visible()  # no files chosen yet: says so
        page.locator('[data-testid="version-files"] input[type="file"]').set_input_files(
            [str(p) for p in sorted(directory.iterdir()) if p.is_file()]
        )
        page.get_by_test_id("version-upload").click()
        expect(page.get_by_test_id("version-dialog")).to_be_hidden(timeout=60_000)

    upload(two)
    expect(page.get_by_test_id("versions-table")).to_contain_text("v1")
    expect(page.get_by_test_id("versions-table")).to_contain_text("준비됨")  # ready, as a Korean chip
    page.get_by_test_id("tab-info").click()
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(two).parameters())
    card = page.get_by_test_id("model-card")
    expect(card).to_contain_text("아키텍처")  # the generated card in the reader's language
    expect(card).to_contain_text("GPT2LMHeadModel")
    expect(card).to_contain_text(f"({params})")  # exact parameter count from the safetensors header
    expect(card).to_contain_text("model.safetensors")
    check_screen(page, allow=ALLOW)

    page.get_by_test_id("tab-compare").click()
    expect(page.get_by_test_id("compare-needs-two")).to_contain_text("1개")
    upload(three)
    expect(page.get_by_test_id("versions-table")).to_contain_text("v2")

    page.get_by_test_id("tab-compare").click()
    expect(page.get_by_test_id("compare-run")).to_be_disabled()
    page.get_by_test_id("compare-pick").click()
    page.get_by_role("option", name="v1").click()
    page.get_by_role("option", name="v2").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("compare-run").click()
    table = page.get_by_test_id("compare-table")
    expect(table).to_contain_text("demo-gpt2 v1")
    expect(table).to_contain_text("demo-gpt2 v2")
    expect(table.locator('tr[data-differs="true"]').first).to_be_visible()
    expect(page.get_by_test_id("config-diff")).to_contain_text("n_layer")
    check_screen(page, allow=ALLOW)

    page.get_by_test_id("tab-metrics").click()
    expect(page.get_by_test_id("metrics-not-deployed")).to_contain_text("배포되어 있지 않아")
    check_screen(page, allow=ALLOW)

    dev = login_headers(api, "res.lee")
    models = api.get("/api/model", params={"q": "demo-gpt2"}, headers=dev).json()["items"]
    assert [m["latest_version"] for m in models] == [2]
    assert re.match(r"GPT2", models[0]["architecture"])


def test_rename_archive_and_unknown_ids(browser_page: Page, api: httpx.Client, admin):
    make_user(api, admin, "ops.kim", "developer", [make_team(api, admin, "ops")["id"]])
    dev = login_headers(api, "ops.kim")
    model = api.post("/api/model/register", json={"name": "old-chat"}, headers=dev).json()
    page = browser_page
    ui_login(page, "ops.kim", PASSWORD)

    page.goto(f"/models/{model['id']}")
    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("model-rename").click()
    field(page, "rename-name").fill("new chat")
    expect(page.get_by_test_id("rename-submit")).to_be_disabled()
    check_screen(page, allow=ALLOW)
    field(page, "rename-name").fill("new-chat")
    page.get_by_test_id("rename-submit").click()
    expect(page.locator("h1")).to_have_text("new-chat")
    assert api.get(f"/api/model/{model['id']}", headers=dev).json()["name"] == "new-chat"

    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("model-archive").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("model-archived")).to_be_visible()
    assert api.get(f"/api/model/{model['id']}", headers=dev).json()["archived_at"] is not None
    page.get_by_test_id("nav-models").click()
    expect(
        page.get_by_test_id("models-page").get_by_test_id("state-empty")
    ).to_be_visible()  # archived models leave the list
    page.get_by_test_id("models-archived").locator("input").check()
    expect(page.get_by_test_id("models-table")).to_contain_text("new-chat")

    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        page.goto(f"/models/{missing}")
        expect(page.get_by_test_id("not-found")).to_contain_text("모델")
        page.goto(f"/deployments/{missing}")
        expect(page.get_by_test_id("not-found")).to_contain_text("배포")
        check_screen(page, allow=ALLOW)

    page.goto(f"/models/{model['id']}")
    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("model-delete").click()
    expect(page.get_by_test_id("delete-submit")).to_be_disabled()
    field(page, "delete-name").fill("new-chat")
    page.get_by_test_id("delete-submit").click()
    expect(page).to_have_url(re.compile(r"/models$"))
    assert api.get(f"/api/model/{model['id']}", headers=dev).status_code == 404
